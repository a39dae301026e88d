"""Create the template's DynamoDB tables (with their TTL) and S3 buckets in the embedded AWS (moto)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from httpep.local.template import LocalTemplate

TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode")


def table_definition(properties: dict[str, Any]) -> dict[str, Any]:
    """create_table arguments from a template's AWS::DynamoDB::Table properties (the schema is written once)."""
    definition = {key: properties[key] for key in TABLE_KEYS if key in properties}
    definition.setdefault("BillingMode", "PAY_PER_REQUEST")
    return definition


def create_resources(template: LocalTemplate, client: Callable[[str], Any]) -> None:
    """Create every table and bucket of the template; existing ones are left as they are."""
    dynamodb = client("dynamodb")
    s3 = client("s3")
    existing_tables = set(dynamodb.list_tables()["TableNames"])
    for logical_id, resource in template.resources_of_type("AWS::DynamoDB::Table").items():
        name = template.local_names[logical_id]
        if name not in existing_tables:
            properties = resource.get("Properties", {})
            dynamodb.create_table(TableName=name, **table_definition(properties))
            ttl = properties.get("TimeToLiveSpecification")
            if ttl:
                dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    existing_buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for logical_id, resource in template.resources_of_type("AWS::S3::Bucket").items():
        name = template.local_names[logical_id]
        if name not in existing_buckets:
            s3.create_bucket(Bucket=name)
        versioning = resource.get("Properties", {}).get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
