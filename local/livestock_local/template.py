"""Reads template.yaml, so the local stack never keeps a second copy of the schema or the routes."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


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


@dataclass
class Route:
    function: str
    method: str
    path: str  # as declared, e.g. /skus/{sku_id}
    pattern: re.Pattern[str]


@dataclass
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any]
    routes: list[Route] = field(default_factory=list)
    stream_tables: list[str] = field(default_factory=list)
    schedules: list[str] = field(default_factory=list)
    stream_batch_size: int = 100
    stream_parallelization: int = 1


def _route_pattern(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{([A-Za-z_][A-Za-z0-9_]*)\\\}", r"(?P<\1>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


class Template:
    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self.document = document or load()
        self.resources: dict[str, Any] = self.document["Resources"]

    def tables(self) -> dict[str, dict[str, Any]]:
        return {
            name: resource["Properties"]
            for name, resource in self.resources.items()
            if resource["Type"] == "AWS::DynamoDB::Table"
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

    def functions(self, table_names: dict[str, str]) -> list[Function]:
        globals_env = self.document.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        parameters = {name: str(spec.get("Default", "")) for name, spec in self.document.get("Parameters", {}).items()}
        found = []
        for logical_id, resource in self.resources.items():
            if resource["Type"] != "AWS::Serverless::Function":
                continue
            props = resource["Properties"]
            env_vars = {**globals_env, **props.get("Environment", {}).get("Variables", {})}
            environment = {k: self._resolve(v, table_names, parameters) for k, v in env_vars.items()}
            function = Function(
                logical_id=logical_id,
                code_uri=ROOT / props["CodeUri"],
                handler=props["Handler"],
                environment=environment,
            )
            for event in props.get("Events", {}).values():
                event_props = event.get("Properties", {})
                if event["Type"] == "Api":
                    function.routes.append(
                        Route(
                            logical_id,
                            event_props["Method"].upper(),
                            event_props["Path"],
                            _route_pattern(event_props["Path"]),
                        )
                    )
                elif event["Type"] == "DynamoDB":
                    function.stream_tables.append(event_props["Stream"]["Fn::GetAtt"][0])
                    function.stream_batch_size = int(event_props.get("BatchSize", 100))
                    function.stream_parallelization = int(event_props.get("ParallelizationFactor", 1))
                elif event["Type"] in ("Schedule", "ScheduleV2"):
                    function.schedules.append(
                        str(self._resolve(event_props["ScheduleExpression"], table_names, parameters))
                    )
            found.append(function)
        return found

    @staticmethod
    def _resolve(value: Any, table_names: dict[str, str], parameters: dict[str, str]) -> str:
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in table_names:
                return table_names[ref]
            if ref in parameters:
                return parameters[ref]
            raise ValueError(f"the local stack cannot resolve !Ref {ref}")
        return str(value)
