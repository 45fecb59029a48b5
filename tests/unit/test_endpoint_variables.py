"""The template declares, under Globals, the endpoint variable of every AWS service the functions'
code creates a client for. `sam local --env-vars` overrides declared variables only, so a client
whose variable is missing would reach AWS itself from a local container.

The clients are found in the code (any `boto3.client("x")`, `session.client("x")`, and the
Powertools utilities that make their own), and botocore itself says which variable each reads:
a client added later is checked without touching this file.
"""

import ast
import os
from collections.abc import Iterator
from pathlib import Path

import boto3
import botocore.session
import pytest

from livestock_local.template import ENDPOINT_PREFIX, ROOT, Template

CODE = [ROOT / "layers" / "livestock" / "livestock", ROOT / "functions"]
# Powertools utilities that create their clients themselves, by the name the code imports.
POWERTOOLS_CLIENTS = {
    "get_parameter": "ssm",
    "get_parameters": "ssm",
    "get_parameters_by_name": "ssm",
    "SSMProvider": "ssm",
    "get_secret": "secretsmanager",
    "get_secrets_by_name": "secretsmanager",
    "SecretsProvider": "secretsmanager",
    "DynamoDBProvider": "dynamodb",
    "DynamoDBPersistenceLayer": "dynamodb",
    "get_app_config": "appconfigdata",
    "AppConfigProvider": "appconfigdata",
}
# The clients the functions use now or are about to (Step Functions, Scheduler, SNS, Secrets
# Manager, SSM, the WebSocket management API): each declared variable must be the one botocore
# reads for one of them. AWS_ENDPOINT_URL_EVENTS is not: botocore names EventBridge's EVENTBRIDGE.
KNOWN_CLIENTS = ["dynamodb", "events", "stepfunctions", "scheduler", "sns", "secretsmanager", "ssm"]
KNOWN_CLIENTS += ["apigatewaymanagementapi", "s3"]


def _sources() -> Iterator[Path]:
    for folder in CODE:
        yield from sorted(folder.rglob("*.py"))


def created_clients() -> dict[str, set[str]]:
    """Each service a client is created for, with the files that create one."""
    found: dict[str, set[str]] = {}
    for path in _sources():
        where = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), filename=where)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("aws_lambda_powertools"):
                for alias in node.names:
                    if alias.name in POWERTOOLS_CLIENTS:
                        found.setdefault(POWERTOOLS_CLIENTS[alias.name], set()).add(where)
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in ("client", "resource") or not node.args:
                continue
            service = node.args[0]
            if isinstance(service, ast.Constant) and isinstance(service.value, str):
                found.setdefault(service.value, set()).add(where)
            else:
                pytest.fail(f"{where}:{node.lineno}: a client whose service is not a literal cannot be checked")
    return found


def declared() -> set[str]:
    variables = Template().document["Globals"]["Function"]["Environment"]["Variables"]
    return {name for name in variables if name.startswith(ENDPOINT_PREFIX)}


def endpoint_of(service: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """The endpoint botocore gives a new client of `service` under exactly these variables."""
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    url: str = boto3.session.Session().client(service, region_name="us-east-1").meta.endpoint_url  # type: ignore[call-overload]
    return url


def variable_name(service: str) -> str:
    """botocore's rule (for the failure message): the service id, spaces as underscores, upper case."""
    service_id = botocore.session.get_session().get_service_model(service).service_id
    return ENDPOINT_PREFIX + str(service_id).replace(" ", "_").upper()


def test_the_scan_finds_the_clients_the_functions_create_today() -> None:
    found = created_clients()
    assert {"dynamodb", "events"} <= set(found), found
    assert "layers/livestock/livestock/dal/clients.py" in found["dynamodb"]


def test_every_client_the_code_creates_reads_a_variable_the_template_declares(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    urls = {name: f"http://{name.lower().replace('_', '-')}.invalid:1" for name in declared()}
    for service, files in sorted(created_clients().items()):
        endpoint = endpoint_of(service, urls, monkeypatch)
        assert endpoint in urls.values(), (
            f"{', '.join(sorted(files))} create a {service!r} client, which reads {variable_name(service)}: "
            "declare it (empty) under Globals.Function.Environment.Variables in template.yaml"
        )


@pytest.mark.parametrize("variable", sorted(declared()))
def test_every_declared_endpoint_variable_is_one_botocore_reads(variable: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = "http://declared.invalid:1"
    readers = [service for service in KNOWN_CLIENTS if endpoint_of(service, {variable: url}, monkeypatch) == url]
    assert readers, f"no client of {KNOWN_CLIENTS} reads {variable}; a declared variable nothing reads misleads"


def test_the_endpoint_variables_default_to_aws_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    variables = Template().document["Globals"]["Function"]["Environment"]["Variables"]
    assert {variables[name] for name in declared()} == {""}
    # boto3 reads an empty variable as unset: the deployed functions reach AWS's own endpoints.
    assert endpoint_of("dynamodb", dict.fromkeys(declared(), ""), monkeypatch).startswith("https://dynamodb.")
