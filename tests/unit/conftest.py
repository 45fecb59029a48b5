"""moto tables built from template.yaml's own definitions, and services wired to them."""

import os
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from livestock import wiring
from livestock.dal.stream import change_of, parse
from livestock.settings import Settings
from livestock_local import iam
from livestock_local.template import Template

INVENTORY = "livestock-InventoryTable"
LEDGER = "livestock-LedgerTable"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class AllStores:
    """Every store under one name, for tests that look at what the services wrote."""

    def __init__(self, stores: wiring.Stores) -> None:
        self._stores = (stores.skus, stores.holds, stores.limits, stores.ledger)

    def __getattr__(self, name: str) -> Any:
        for store in self._stores:
            if hasattr(store, name):
                return getattr(store, name)
        raise AttributeError(name)


def stream_record(record: dict[str, Any]) -> dict[str, Any]:
    """A record read with GetRecords, shaped as Lambda delivers it."""
    return {
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/livestock-InventoryTable/stream/x",
        **record,
        "dynamodb": {**record["dynamodb"], "ApproximateCreationDateTime": 1_800_000_000.0},
    }


class StreamDrain:
    """Feeds the moto table's stream to the settlement logic, as the consumer would.

    Iterators are taken afresh for every read: a refused transaction makes moto restore a copy of
    the table, and an older iterator would keep reading the stream of the discarded one.
    """

    def __init__(self, client: Any, streams: Any, settlement: Any) -> None:
        self.client = client
        self.streams = streams
        self.settlement = settlement
        self.arn = client.describe_table(TableName=INVENTORY)["Table"]["LatestStreamArn"]
        self.last_seen: dict[str, str] = {}

    def _read(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for shard in self.streams.describe_stream(StreamArn=self.arn)["StreamDescription"]["Shards"]:
            shard_id = shard["ShardId"]
            position: dict[str, str] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self.last_seen[shard_id]}
                if shard_id in self.last_seen
                else {"ShardIteratorType": "TRIM_HORIZON"}
            )
            iterator = self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard_id, **position)
            found = self.streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
            if found:
                self.last_seen[shard_id] = found[-1]["dynamodb"]["SequenceNumber"]
            records += found
        return records

    def __call__(self) -> int:
        seen = 0
        while batch := self._read():
            changes = [change_of(parse(stream_record(record))) for record in batch]
            self.settlement.write_ledger([c for c in changes if c is not None])
            for change in changes:
                self.settlement.settle(change)
            seen += len(batch)
        return seen


class World:
    def __init__(self) -> None:
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        template = Template()
        for logical_id, name in (("InventoryTable", INVENTORY), ("LedgerTable", LEDGER)):
            self.client.create_table(**template.create_table_request(logical_id, name))
        self.clock = Clock()
        self.settings = Settings(
            inventory_table_name=INVENTORY, ledger_table_name=LEDGER, replay_wait_s=0, meta_cache_s=0
        )
        self.stores = wiring.stores(self.settings, self.client)
        self.repository = AllStores(self.stores)
        self.services = wiring.build(self.settings, self.stores, clock=self.clock, rng=random.Random(1))
        self.stock = self.services.stock
        self.holds = self.services.holds
        self.drain = StreamDrain(
            self.client,
            # botocore now resolves another streams host than the one moto intercepts: name it.
            boto3.client(
                "dynamodbstreams",
                region_name="us-east-1",
                endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com",
            ),
            self.services.settlement,
        )


@pytest.fixture(scope="session", autouse=True)
def iam_denials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The functions run on their sample events play IAM (livestock_local.iam): a refusal the code
    caught and logged is still found here."""
    denials = tmp_path_factory.mktemp("iam") / "denials.jsonl"
    os.environ[iam.DENIALS_VARIABLE] = str(denials)
    yield
    del os.environ[iam.DENIALS_VARIABLE]
    assert not denials.exists(), f"calls template.yaml's policies do not allow: {denials.read_text()[:2000]}"


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for variable in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(variable)
    with mock_aws():
        yield World()
