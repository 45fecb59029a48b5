"""Reads template.yaml, so the local stack never keeps a second copy of the schema or the routes."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml

from livestock_local import iam

ROOT = Path(__file__).resolve().parents[2]
PSEUDO_PARAMETERS = {
    "AWS::Region": "us-east-1",
    "AWS::Partition": "aws",
    "AWS::AccountId": "000000000000",
    "AWS::URLSuffix": "amazonaws.com",
}
TEMPLATE = ROOT / "template.yaml"
ENDPOINT_PREFIX = "AWS_ENDPOINT_URL_"


LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT = "123456789012"  # moto's default account
LOCAL_ARNS = {
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::Serverless::StateMachine": "arn:aws:states:{region}:{account}:stateMachine:{name}",
    "AWS::IAM::Role": "arn:aws:iam::{account}:role/{name}",
}


def local_arn(kind: str, logical_id: str) -> str:
    """The ARN the local stack gives a template resource: its logical id is its name."""
    return LOCAL_ARNS[kind].format(region=LOCAL_REGION, account=LOCAL_ACCOUNT, name=logical_id)


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !GetAtt, !Sub...) kept as {"Fn": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as handle:
        return dict(yaml.load(handle, Loader=_CfnLoader))  # noqa: S506 - a SafeLoader subclass


@dataclass(frozen=True)
class FunctionEvent:
    """One entry of a function's Events: what the registry hands to the event source of its type."""

    function: str
    name: str
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class Route:
    function: str
    method: str
    path: str  # as declared, e.g. /skus/{sku_id}
    segments: tuple[str, ...]
    # SAM's per-event `Auth: {ApiKeyRequired: false}`: a route the API's key does not guard (the
    # platforms' order pushes, which carry their own signatures). None: the API's setting.
    api_key_required: bool | None = None

    @classmethod
    def declared(cls, function: str, method: str, path: str, api_key_required: bool | None = None) -> "Route":
        return cls(function, method.upper(), path, tuple(path.strip("/").split("/")), api_key_required)

    def match(self, raw_segments: list[str]) -> dict[str, str] | None:
        """Path parameters, percent-decoded one segment at a time as API Gateway does: `a%3Ab` is
        `a:b`, and an encoded `/` stays inside its parameter."""
        if len(raw_segments) != len(self.segments):
            return None
        parameters = {}
        for declared, raw in zip(self.segments, raw_segments, strict=True):
            if declared.startswith("{") and declared.endswith("}"):
                if not raw:
                    return None
                parameters[declared[1:-1]] = unquote(raw)
            elif declared != unquote(raw):
                return None
        return parameters


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, str]
    timeout_s: float = 3.0
    memory_mb: int = 128
    events: list[FunctionEvent] = field(default_factory=list)
    # What its role's policies allow (livestock_local.iam plays them in the stack's processes).
    grants: frozenset[iam.Grant] = frozenset()

    @property
    def routes(self) -> list[Route]:
        return [
            Route.declared(
                self.logical_id,
                str(e.properties["Method"]),
                str(e.properties["Path"]),
                e.properties.get("Auth", {}).get("ApiKeyRequired"),
            )
            for e in self.events
            if e.type == "Api"
        ]


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    body: str


@dataclass(frozen=True)
class RestApi:
    logical_id: str
    stage: str
    api_key_required: bool
    responses: dict[str, GatewayResponse]


class Template:
    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document or load()
        self.resources: dict[str, Any] = self.document["Resources"]
        self.parameters = {
            name: str(spec.get("Default", "")) for name, spec in self.document.get("Parameters", {}).items()
        }

    def tables(self) -> dict[str, dict[str, Any]]:
        return {
            name: resource["Properties"]
            for name, resource in self.resources.items()
            if resource["Type"] == "AWS::DynamoDB::Table"
        }

    def buckets(self) -> dict[str, str]:
        """Each AWS::S3::Bucket's logical id and the name the local stack gives it (moto serves them)."""
        return {
            name: f"livestock-{name.lower()}"
            for name, resource in self.resources.items()
            if resource["Type"] == "AWS::S3::Bucket"
        }

    def create_table_request(self, logical_id: str, table_name: str) -> dict[str, Any]:
        """The template's own table definition, as a CreateTable request."""
        props = self.tables()[logical_id]
        request: dict[str, Any] = {
            "TableName": table_name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if "GlobalSecondaryIndexes" in props:
            request["GlobalSecondaryIndexes"] = [
                {"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                for i in props["GlobalSecondaryIndexes"]
            ]
        if "StreamSpecification" in props:
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        return request

    def _function_globals(self) -> dict[str, Any]:
        return dict(self.document.get("Globals", {}).get("Function", {}))

    def functions(self, table_names: dict[str, str]) -> list[Function]:
        """Every AWS::Serverless::Function with its environment, timeout and events, Globals applied."""
        globals_ = self._function_globals()
        globals_env = globals_.get("Environment", {}).get("Variables", {})
        found = []
        for logical_id, resource in self.resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            props = {**globals_, **resource["Properties"]}
            env_vars = {**globals_env, **resource["Properties"].get("Environment", {}).get("Variables", {})}
            function = Function(
                logical_id=logical_id,
                code_uri=ROOT / props["CodeUri"],
                handler=props["Handler"],
                environment={
                    k: self.resolve(v, table_names)
                    for k, v in env_vars.items()
                    # An empty endpoint variable stands for "AWS's own endpoint" (boto3 reads it as
                    # unset); locally the endpoint the stack exports must show through instead.
                    if not (k.startswith(ENDPOINT_PREFIX) and v == "")
                },
                # Lambda's own defaults when neither the function nor Globals says.
                timeout_s=float(props.get("Timeout", 3)),
                memory_mb=int(props.get("MemorySize", 128)),
                grants=iam.grants_of(props.get("Policies", []), table_names),
            )
            for name, event in props.get("Events", {}).items():
                function.events.append(FunctionEvent(logical_id, name, str(event["Type"]), event.get("Properties", {})))
            found.append(function)
        return found

    def rest_api(self, logical_id: str | None, table_names: dict[str, str]) -> RestApi:
        """An AWS::Serverless::Api's stage, key requirement and gateway responses; SAM's implicit
        API (an Api event without RestApiId) is stage Prod with no key."""
        if logical_id is None:
            return RestApi("ServerlessRestApi", "Prod", False, {})
        props = self.resources[logical_id]["Properties"]
        responses = {
            kind: GatewayResponse(
                # No StatusCode: the refusal keeps its own status (the gateway's default for the kind).
                int(spec.get("StatusCode", 0)),
                str(spec.get("ResponseTemplates", {}).get("application/json", "")),
            )
            for kind, spec in props.get("GatewayResponses", {}).items()
        }
        return RestApi(
            logical_id,
            self.resolve(props["StageName"], table_names),
            bool(props.get("Auth", {}).get("ApiKeyRequired", False)),
            responses,
        )

    def resolve(self, value: Any, table_names: dict[str, str]) -> str:
        """A template value with !Ref to a table, a parameter or a state machine, or !GetAtt of a
        function's or a role's Arn, resolved as the stack deploys it (ARNs as the local stack names
        the resources: by logical id, in the local account and region). In a !Sub, a resource that is
        no table reads `local-<LogicalId>`: the source that plays it replaces the whole value (a
        WebSocket API's addresses, say)."""
        if isinstance(value, dict) and "Fn::Sub" in value and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([\w:.]+)\}", lambda m: self._substitute(m.group(1), table_names), value["Fn::Sub"])
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in table_names:
                return table_names[ref]
            if ref in self.buckets():
                return self.buckets()[ref]
            if ref in self.parameters:
                return self.parameters[ref]
            if self.resources.get(ref, {}).get("Type") == "AWS::Serverless::StateMachine":
                return local_arn("AWS::Serverless::StateMachine", ref)
            raise ValueError(f"the local stack cannot resolve !Ref {ref}")
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            kind = self.resources.get(logical_id, {}).get("Type", "")
            if attribute == "Arn" and kind in LOCAL_ARNS:
                return local_arn(kind, logical_id)
            raise ValueError(f"the local stack cannot resolve !GetAtt {logical_id}.{attribute}")
        return str(value)

    def _substitute(self, name: str, table_names: dict[str, str]) -> str:
        if name in PSEUDO_PARAMETERS:
            return PSEUDO_PARAMETERS[name]
        if name in table_names:
            return table_names[name]
        if name in self.parameters:
            return self.parameters[name]
        if name.split(".", maxsplit=1)[0] in self.resources:
            return f"local-{name.split('.', maxsplit=1)[0]}"
        raise ValueError(f"the local stack cannot resolve ${{{name}}} in a !Sub")
