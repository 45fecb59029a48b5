"""Writes openapi.json: the API's OpenAPI document, generated from the handlers' pydantic models.

`python -m livestock_local.openapi` rewrites it; a unit test checks the committed copy is current.
"""

import json
import sys
from typing import Any

from livestock_local.lambda_runtime import LocalLambda
from livestock_local.template import ROOT, Template

OPENAPI_FILE = ROOT / "openapi.json"


def generate() -> dict[str, Any]:
    document: dict[str, Any] = {}
    for function in Template().functions(
        {"InventoryTable": "inventory", "LedgerTable": "ledger", "EventsTable": "events"}
    ):
        if not function.routes:
            continue
        app = LocalLambda(function).environment().app
        schema: dict[str, Any] = json.loads(
            app.get_openapi_json_schema(
                title="LiveStock API",
                version="1.0.0",
                description="Oversell-proof inventory for live-stream commerce. Send x-api-key on every call.",
            )
        )
        if not document:
            document = schema
        else:
            document["paths"].update(schema["paths"])
            document.setdefault("components", {}).setdefault("schemas", {}).update(
                schema.get("components", {}).get("schemas", {})
            )
    document["paths"] = dict(sorted(document["paths"].items()))
    document.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"}
    }
    document["security"] = [{"apiKey": []}]
    return document


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    OPENAPI_FILE.write_text(render())
    print(f"wrote {OPENAPI_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
