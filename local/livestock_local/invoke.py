"""`make invoke FN=<LogicalId> EVENT=events/...json`: one function of template.yaml on one event,
against the local stack, as `sam local invoke` runs it against AWS (that one needs Docker).

If a stack runs (`make up`), the function reaches its database with the stack's key; otherwise an
in-memory stack without event sources is started for the call and stopped after it. The function
runs in a worker process of its own, with its own environment variables and Timeout.
"""

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from livestock_local.dynamodb_local import DynamoDBLocalError, free_port
from livestock_local.lambda_runtime import FunctionTimeout, Invoker
from livestock_local.stack import STATE_DIR, LocalStack, StackError, running_stack
from livestock_local.template import Template


def invoke(logical_id: str, event: dict[str, Any], state_dir: Path = STATE_DIR) -> Any:
    lock = running_stack(state_dir)
    if lock is None:
        with LocalStack(
            port=free_port(), state_dir=state_dir, api_workers=1, sweep_period_s=None, template=functions_only()
        ) as stack:
            assert stack.invoker is not None
            return stack.invoker.invoke(logical_id, event)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL_DYNAMODB": str(lock["dynamodb"]),
            "AWS_ENDPOINT_URL_DYNAMODBSTREAMS": str(lock["dynamodb"]),
            "AWS_DEFAULT_REGION": "us-east-1",
            **lock["credentials"],
        }
    )
    template = Template()
    table_names = {name: f"livestock-{name}" for name in template.tables()}
    functions = template.functions(table_names)
    if logical_id not in {f.logical_id for f in functions}:
        raise KeyError(logical_id)
    invoker = Invoker(functions, workers=1)
    try:
        return invoker.invoke(logical_id, event)
    finally:
        invoker.shutdown()


def functions_only() -> Template:
    """The template with its functions' events left out: `make invoke` delivers the one event."""
    template = Template()
    for resource in template.resources.values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"].pop("Events", None)
    return template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one function of template.yaml on one event.")
    parser.add_argument("function", help="the function's logical id, e.g. HoldsApiFunction")
    parser.add_argument("event", type=Path, help="a JSON event file, e.g. events/holds/place.json")
    args = parser.parse_args(argv)
    try:
        event = json.loads(args.event.read_text())
        result = invoke(args.function, event)
    except KeyError as error:
        names = ", ".join(name for name, r in Template().resources.items() if r["Type"] == "AWS::Serverless::Function")
        print(f"livestock: no function {error} in template.yaml (it has {names})", file=sys.stderr)
        return 2
    except FunctionTimeout as error:
        print(f"livestock: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError, StackError, DynamoDBLocalError) as error:
        print(f"livestock: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
