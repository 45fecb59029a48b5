"""moto tables built from template.yaml's own definitions, and services wired to them."""

import os
import random
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from livestock.dal.codec import deserialize
from livestock.dal.repository import InventoryRepository
from livestock.logic.holds import HoldService
from livestock.logic.meta_cache import MetaCache
from livestock.logic.settlement import Settlement
from livestock.logic.stock import StockService
from livestock.settings import Settings
from livestock_local.template import Template

INVENTORY = "livestock-InventoryTable"
LEDGER = "livestock-LedgerTable"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class StreamDrain:
    """Feeds the moto table's stream to the settlement logic, as the consumer would."""

    def __init__(self, client: Any, streams: Any, settlement: Settlement) -> None:
        self.client = client
        self.streams = streams
        self.settlement = settlement
        arn = client.describe_table(TableName=INVENTORY)["Table"]["LatestStreamArn"]
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.iterators = [
            streams.get_shard_iterator(StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")[
                "ShardIterator"
            ]
            for s in shards
        ]

    def __call__(self) -> int:
        seen = 0
        while True:
            batch = []
            for index, iterator in enumerate(self.iterators):
                response = self.streams.get_records(ShardIterator=iterator)
                self.iterators[index] = response["NextShardIterator"]
                batch += response["Records"]
            if not batch:
                return seen
            changes = []
            for record in batch:
                change = record["dynamodb"]
                old = deserialize(change["OldImage"]) if "OldImage" in change else None
                new = deserialize(change["NewImage"]) if "NewImage" in change else None
                changes.append((old, new, change["SequenceNumber"], 1_800_000_000.0))
            self.settlement.write_ledger(changes)
            for old, new, sequence, _ in changes:
                self.settlement.settle(old, new, sequence)
            seen += len(batch)


class World:
    def __init__(self) -> None:
        self.client = boto3.client("dynamodb", region_name="us-east-1")
        template = Template()
        for logical_id, name in (("InventoryTable", INVENTORY), ("LedgerTable", LEDGER)):
            self.client.create_table(**template.create_table_request(logical_id, name))
        self.repository = InventoryRepository(INVENTORY, LEDGER, self.client)
        self.clock = Clock()
        self.settings = Settings(
            inventory_table_name=INVENTORY, ledger_table_name=LEDGER, replay_wait_s=0, meta_cache_s=0
        )
        self.stock = StockService(self.repository, random.Random(1))
        self.holds = HoldService(self.repository, self.settings, MetaCache(0), self.clock, random.Random(2))
        self.drain = StreamDrain(
            self.client,
            # botocore now resolves another streams host than the one moto intercepts: name it.
            boto3.client(
                "dynamodbstreams",
                region_name="us-east-1",
                endpoint_url="https://streams.dynamodb.us-east-1.amazonaws.com",
            ),
            Settlement(self.repository, 30),
        )


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for variable in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(variable)
    with mock_aws():
        yield World()
