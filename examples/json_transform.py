"""Turns an order as an upstream system posts it into the summary a downstream system expects.

In:  {"order_id": "A-17", "currency": "EUR", "items": [{"sku": "X1", "qty": 2, "unit_price": 9.5}, ...]}
Out: 201 {"id": "A-17", "currency": "EUR", "lines": 1, "units": 2, "total": 19.0}
     with `X-Transform: order-summary/v1` naming the output format, so consumers can tell versions apart.
A body that is not such an order gets 400 with {"error": ...}.
"""

import json
import math

from flask import Request, Response

FORMAT = "order-summary/v1"


def handler(request: Request) -> Response:
    # silent=True: a body that is not JSON (or not sent as application/json) is None, answered below.
    order = request.get_json(silent=True)
    try:
        summary = summarize(order)
    except KeyError as exc:
        return invalid(f"missing {exc}")
    except (TypeError, ValueError) as exc:
        return invalid(str(exc))
    return Response(json.dumps(summary), status=201, headers={"X-Transform": FORMAT}, mimetype="application/json")


def invalid(message: str) -> Response:
    return Response(json.dumps({"error": f"not an order: {message}"}), status=400, mimetype="application/json")


def summarize(order: object) -> dict:
    if not isinstance(order, dict):
        raise TypeError("send a JSON object with Content-Type: application/json")
    items = order["items"]
    if not isinstance(items, list) or not items:
        raise ValueError("items must be a non-empty list")
    units = 0
    total_cents = 0
    for item in items:
        if not isinstance(item, dict):
            raise TypeError(f"each item must be an object, not {json.dumps(item)}")
        qty = number(item["qty"], "qty")
        if qty != int(qty) or qty < 1:
            raise ValueError(f"qty must be a whole number of at least 1, not {qty}")
        units += int(qty)
        # Whole cents, so that 0.10 + 0.20 sums to what an accountant expects.
        total_cents += int(qty) * round(number(item["unit_price"], "unit_price") * 100)
    return {
        "id": str(order["order_id"]),
        "currency": str(order.get("currency", "USD")),
        "lines": len(items),
        "units": units,
        "total": total_cents / 100,
    }


def number(value: object, name: str) -> float:
    # bool is an int in Python, and JSON's 1e999 parses as infinity: neither is a quantity or a price.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number, not {json.dumps(value)}")
    return value
