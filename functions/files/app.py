"""The files API: PUT, GET and DELETE /api/v2/files/{path+} (write, read / versions / list, delete)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from httpendpoint.core.observability import logger, metrics, tracer
from httpendpoint.files import routes
from httpendpoint.files.models import FileDeletedView, FileWrittenView
from httpendpoint.management import contract

app = routes.new_files_resolver()
DrivePath = Annotated[str, Path(description="The drive path without its leading '/', starting with your account")]


@app.put(
    routes.FILES_ROUTE,
    operation_id="writeFile",
    tags=[routes.TAG],
    summary="Save a file (the body is its bytes); re-pins the endpoints that run it",
    responses=contract.responses(
        201,
        "A new file: its path, version and size, and the endpoints re-pinned (`updated`) or kept (`kept`).",
        400,
        403,
        413,
        other_successes={200: "A new version of an existing file (same body as 201)."},
        error_descriptions=routes.ERROR_DESCRIPTIONS,
    ),
)
def write(path: DrivePath) -> Response[FileWrittenView]:
    return routes.handle_write(app, path)


@app.get(
    routes.FILES_ROUTE,
    operation_id="readFile",
    tags=[routes.TAG],
    summary="Read a file (or a version), list its versions, or list a folder",
    responses=contract.responses(
        200,
        "The file's bytes as stored; with `versions=true` its versions; with `list=true` the folder's nodes.",
        400,
        403,
        404,
        error_descriptions=routes.ERROR_DESCRIPTIONS,
    ),
)
def read(
    path: DrivePath,
    version: Annotated[str | None, Query(description="A version id (default: the current version)")] = None,
    versions: Annotated[bool, Query(description="true: the file's versions, newest first")] = False,
    listing: Annotated[bool, Query(alias="list", description="true: list the folder at this path")] = False,
    page_token: Annotated[str | None, Query(description="The next_page_token of the previous page")] = None,
) -> Response[Any]:
    return routes.handle_read(app, path, version, versions, listing, page_token)


@app.delete(
    routes.FILES_ROUTE,
    operation_id="deleteFile",
    tags=[routes.TAG],
    summary="Delete a file (its versions stay, so no pinned version ever disappears)",
    responses=contract.responses(
        200, "The deleted file's path.", 400, 403, 404, 409, error_descriptions=routes.ERROR_DESCRIPTIONS
    ),
)
def delete(path: DrivePath) -> Response[FileDeletedView]:
    return routes.handle_delete(app, path)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
