"""Writes openapi.json: the API's OpenAPI document, generated from the handlers' pydantic models.

Powertools' OpenAPI merge loads the resolver (`app`) of every function under functions/ and
merges their documents into one. The files are named to it: its discovery looks for a literal
`APIGatewayRestResolver(...)` call, and ours come from `build_resolver()`.
`python -m livestock_local.openapi` rewrites it; a unit test checks the committed copy is current.
"""

import json
import sys
from typing import Any

from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

from livestock.api.http import REFUSALS
from livestock_local.template import ROOT, Template

OPENAPI_FILE = ROOT / "openapi.json"


def generate() -> dict[str, Any]:
    merger = OpenAPIMerge(
        title="LiveStock API",
        version="1.0.0",
        description="Oversell-proof inventory for live-stream commerce. Send x-api-key on every call.",
        security=[{"apiKey": []}],
        on_conflict="error",
    )
    keyless: set[tuple[str, str]] = set()
    for function in Template().functions(
        {"InventoryTable": "inventory", "LedgerTable": "ledger", "EventsTable": "events", "ConsoleTable": "console"}
    ):
        if function.routes:
            merger.add_file(ROOT / function.code_uri / "app.py", resolver_name="app")
        # Routes the template exempts from the key: the platforms' signed order pushes, the console's
        # page and its operator actions (which take a console token).
        keyless |= {(route.path, route.method.lower()) for route in function.routes if route.api_key_required is False}
    document: dict[str, Any] = json.loads(merger.get_openapi_json_schema())
    document.setdefault("components", {})["securitySchemes"] = {
        "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "consoleToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "A console token with `operate` (POST /console/tokens), for its session's SKUs",
        },
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation.get("responses", {})
            if (path, method) in keyless:
                console_action = path.startswith("/console/sessions/")
                operation["security"] = [{"consoleToken": []}] if console_action else []
                if not console_action:
                    responses.pop("403", None)
            # A 204 has no body; Powertools would document the handler's return annotation as one.
            responses.get("204", {}).pop("content", None)
            # Powertools lists 422 on every route; one with no parameter and no body cannot answer it.
            if "parameters" not in operation and "requestBody" not in operation:
                responses.pop("422", None)
            # The gateway refuses a body that is not JSON before any function sees it.
            if "requestBody" in operation:
                responses["415"] = {
                    "description": REFUSALS[415],
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
                }
    document["paths"] = dict(sorted(document["paths"].items()))
    return document


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    OPENAPI_FILE.write_text(render())
    print(f"wrote {OPENAPI_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
