"""IAM played locally: every AWS call a function makes in the stack's processes is checked against
the policy template.yaml gives that function, and refused with AccessDeniedException as AWS would
refuse it. A permission missing from the template then fails on the local stack, in the tests,
instead of on the first deploy; and since some paths log a failed call and go on (the sync log's
records, say), every refusal is also written to a file the test session checks is empty.

What is checked: the action of every call (as IAM names it: a transaction needs PutItem, UpdateItem,
DeleteItem or ConditionCheckItem per item, TransactGetItems GetItem, a WebSocket post
execute-api:ManageConnections), and for DynamoDB the table or index it acts on and, where a
statement has a `dynamodb:LeadingKeys` condition, the item's partition key; and, as S3 answers, a
GetObject or HeadObject of a key that does not exist is AccessDenied to a role without
s3:ListBucket (moto answers 404 to anyone). Other services' resources are not matched (the
template scopes them by ARN patterns that the local stack's own names would not follow). The event
source mapping's stream reads are Lambda's, not the function's, and are not checked.
"""

import contextlib
import fnmatch
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.client
from botocore.exceptions import ClientError

# Set by the stack for its children: a path, where refusals are written one JSON object a line.
DENIALS_VARIABLE = "LIVESTOCK_IAM_DENIALS"
ANY = "*"
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}
# Calls whose IAM action is not the operation's name.
_ACTIONS = {
    **{
        ("execute-api", connection_call): "execute-api:ManageConnections"
        for connection_call in ("PostToConnection", "GetConnection", "DeleteConnection")
    },
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
}
# The event source mapping's own calls (Lambda reads the stream, not the function's code).
_NOT_THE_FUNCTIONS = {("dynamodb", "DescribeTable")}


@dataclass(frozen=True)
class Grant:
    """One action on one resource: `table/<name>` or `table/<name>/index/<pattern>` for DynamoDB,
    `*` for anything else. `leading_keys`: a grant's `dynamodb:LeadingKeys` condition (None: any
    key), or the partition key a call acts on (None: not known, as for a Query)."""

    action: str
    resource: str = ANY
    leading_keys: frozenset[str] | None = None


# The one DynamoDB condition key this play evaluates; a DynamoDB statement with another condition
# stops the stack at load rather than being taken as unconditional.
_LEADING_KEYS = "dynamodb:LeadingKeys"


def grants_of(policies: list[Any], table_names: dict[str, str]) -> frozenset[Grant]:
    """What a function's `Policies` (inline statements) allow."""
    found: set[Grant] = set()
    for policy in policies:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if statement.get("Effect") != "Allow":
                continue
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                # Like their resources, other services' conditions (s3:prefix...) are not played.
                scoped = action.startswith("dynamodb:")
                leading_keys = _leading_keys(statement.get("Condition")) if scoped else None
                for resource in resources:
                    where = _resource(resource, table_names) if scoped else ANY
                    found.add(Grant(str(action), where, leading_keys))
    return frozenset(found)


def _leading_keys(condition: dict[str, Any] | None) -> frozenset[str] | None:
    if not condition:
        return None
    keys: frozenset[str] | None = None
    for operator, tests in condition.items():
        for name, allowed in tests.items():
            if name == _LEADING_KEYS and operator in ("ForAllValues:StringEquals", "StringEquals"):
                keys = frozenset(allowed if isinstance(allowed, list) else [allowed])
            else:
                raise ValueError(f"the local stack cannot evaluate the policy condition {operator} {name}")
    return keys


def _resource(value: Any, table_names: dict[str, str]) -> str:
    """A DynamoDB resource of the template as `table/<name>[/index/<pattern>]`."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        if attribute == "Arn" and logical_id in table_names:
            return f"table/{table_names[logical_id]}"
    if isinstance(value, dict) and isinstance(value.get("Fn::Sub"), str):
        text = value["Fn::Sub"]
        for logical_id, name in table_names.items():
            text = text.replace(f"${{{logical_id}.Arn}}", f"table/{name}")
        if text.startswith("table/"):
            return str(text)
    raise ValueError(f"the local stack cannot read the DynamoDB resource {value!r} of a policy")


def needed(prefix: str, operation: str, params: dict[str, Any]) -> list[Grant]:
    """What a call needs: its action(s) and, for DynamoDB, the table or index of each."""
    if prefix != "dynamodb":
        return [Grant(_ACTIONS.get((prefix, operation), f"{prefix}:{operation}"))]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            Grant(f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}", f"table/{body['TableName']}", _partition_key(body))
            for item in params.get("TransactItems", [])
            for kind, body in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Grant(f"dynamodb:{operation}", f"table/{table}") for table in params.get("RequestItems", {})]
    table = f"table/{params.get('TableName', '')}"
    if params.get("IndexName"):
        table += f"/index/{params['IndexName']}"
    return [Grant(f"dynamodb:{operation}", table, _partition_key(params))]


def _partition_key(request: dict[str, Any]) -> frozenset[str] | None:
    """The partition key (`pk`) an item call acts on."""
    item = request.get("Key") or request.get("Item") or {}
    key = item.get("pk", {}).get("S")
    return None if key is None else frozenset({key})


def allows(grants: frozenset[Grant], need: Grant) -> bool:
    return any(
        g.action == need.action
        and fnmatch.fnmatchcase(need.resource, g.resource)
        and (g.leading_keys is None or (need.leading_keys is not None and need.leading_keys <= g.leading_keys))
        for g in grants
    )


@dataclass
class _Acting:
    function: str
    grants: frozenset[Grant]
    invocations: int = 0


class _ProcessRole:
    """The function whose invocation runs in this process now, with the threads it started (a
    worker runs one invocation at a time; a stream mapping's lanes all run its one function)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acting: _Acting | None = None
        self.installed = False

    def install(self) -> None:
        """Checks every boto3 call made in this process while a function is invoked (once a process)."""
        with self.lock:
            if self.installed:
                return
            self.installed = True
        original = botocore.client.BaseClient._make_api_call  # type: ignore[attr-defined]

        def checked(client: Any, operation: str, params: dict[str, Any]) -> Any:
            acting = self.acting
            model = client.meta.service_model
            # The stream's records are read by Lambda's event source mapping, not by the function.
            if acting is not None and model.service_name != "dynamodbstreams":
                _check(acting, model.signing_name, operation, params)
            try:
                return original(client, operation, params)
            except ClientError as error:
                if acting is not None and _hidden_missing_key(acting, model.signing_name, operation, error):
                    raise _denied(acting, Grant("s3:ListBucket"), operation) from None
                raise

        botocore.client.BaseClient._make_api_call = checked  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def acting_as(self, function: str, grants: frozenset[Grant]) -> Iterator[None]:
        self.install()
        with self.lock:
            if self.acting is None or self.acting.function != function:
                self.acting = _Acting(function, grants)
            self.acting.invocations += 1
            acting = self.acting
        try:
            yield
        finally:
            with self.lock:
                acting.invocations -= 1
                if acting.invocations == 0 and self.acting is acting:
                    self.acting = None


_ROLE = _ProcessRole()


def _check(acting: _Acting, prefix: str, operation: str, params: dict[str, Any]) -> None:
    if (prefix, operation) in _NOT_THE_FUNCTIONS:
        return
    for need in needed(prefix, operation, params):
        if not allows(acting.grants, need):
            raise _denied(acting, need, operation)


def _hidden_missing_key(acting: _Acting, prefix: str, operation: str, error: ClientError) -> bool:
    """S3 tells a caller that an object does not exist (404) only if it may list the bucket; to one
    that may not, it answers 403 AccessDenied (moto answers 404 to anyone)."""
    missing = error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404")
    return (
        prefix == "s3"
        and operation in ("GetObject", "HeadObject")
        and missing
        and not allows(acting.grants, Grant("s3:ListBucket"))
    )


def _denied(acting: _Acting, need: Grant, operation: str) -> ClientError:
    """The refusal AWS answers (S3 names it AccessDenied), written down for the test session to find."""
    message = (
        f"{acting.function} is not authorized to perform: {need.action} on resource: {need.resource} "
        "(template.yaml gives its role no such statement)"
    )
    if path := os.environ.get(DENIALS_VARIABLE):
        denial = {"function": acting.function, "action": need.action, "resource": need.resource}
        with Path(path).open("a") as denials:
            denials.write(json.dumps(denial) + "\n")
    code = "AccessDenied" if need.action.startswith("s3:") else "AccessDeniedException"
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def acting_as(function: str, grants: frozenset[Grant]) -> contextlib.AbstractContextManager[None]:
    """Calls made in this process while the function runs are checked against `grants`."""
    return _ROLE.acting_as(function, grants)
