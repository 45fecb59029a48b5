"""moto pieces for the event tests: the events table, a bus whose every event lands in a queue,
and the inventory stream read as the event publisher receives it."""

import json
from typing import Any

import boto3

from livestock.dal.event_state import EventStateRepository
from livestock.dal.stream import Change, change_of, parse
from livestock.events.publisher import EventSink, StreamPublisher
from livestock.events.stock_reader import StockReader
from livestock_local.template import Template
from tests.unit.conftest import INVENTORY, World, stream_record

EVENTS = "livestock-EventsTable"
BUS = "livestock-events"


class RecordingEvents:
    """The real (moto) EventBridge client, counting what PutEvents was asked to publish; it can
    refuse chosen entries once, as EventBridge does under throttling."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: list[list[dict[str, Any]]] = []
        self.refuse_once: set[int] = set()  # positions (in the whole call sequence) to refuse
        self.throttled = False  # every entry refused, as long as it is set

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(list(Entries))
        refused = {n for n in range(len(Entries)) if self.throttled or (len(self.calls), n) in self.refused_positions()}
        passed = [e for n, e in enumerate(Entries) if n not in refused]
        results = iter(self.client.put_events(Entries=passed)["Entries"] if passed else [])
        out = [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"} if n in refused else next(results)
            for n in range(len(Entries))
        ]
        return {"FailedEntryCount": len(refused), "Entries": out}

    def refused_positions(self) -> set[tuple[int, int]]:
        return {(1, n) for n in self.refuse_once}

    @property
    def published(self) -> list[dict[str, Any]]:
        return [e for call in self.calls for e in call]


class EventWorld:
    def __init__(self, world: World) -> None:
        self.world = world
        world.client.create_table(**Template().create_table_request("EventsTable", EVENTS))
        self.events = boto3.client("events", region_name="us-east-1")
        self.events.create_event_bus(Name=BUS)
        sqs = boto3.client("sqs", region_name="us-east-1")
        self.sqs = sqs
        self.queue = sqs.create_queue(QueueName="everything")["QueueUrl"]
        self.events.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["livestock.inventory"]}))
        self.events.put_targets(
            Rule="all", EventBusName=BUS, Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:123456789012:everything"}]
        )
        self.recorder = RecordingEvents(self.events)
        self.states = EventStateRepository(EVENTS, world.client)
        self.clock = world.clock
        self.publisher = StreamPublisher(
            self.states,
            StockReader(world.stores.skus),
            EventSink(BUS, lambda: self.recorder, sleep=lambda _: None),  # type: ignore[arg-type, return-value]
            window_s=60,
            clock=world.clock,
        )
        streams = world.drain.streams
        arn = world.client.describe_table(TableName=INVENTORY)["Table"]["LatestStreamArn"]
        shards = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.streams = streams
        self.iterators = [
            streams.get_shard_iterator(StreamArn=arn, ShardId=s["ShardId"], ShardIteratorType="TRIM_HORIZON")[
                "ShardIterator"
            ]
            for s in shards
        ]

    def next_batch(self) -> list[Change]:
        """Every stream record not read yet, as the publisher's handler turns them into changes."""
        batch: list[Change] = []
        for index, iterator in enumerate(self.iterators):
            response = self.streams.get_records(ShardIterator=iterator)
            self.iterators[index] = response["NextShardIterator"]
            changes = (change_of(parse(stream_record(record))) for record in response["Records"])
            batch += [change for change in changes if change is not None]
        return batch

    def delivered(self) -> list[dict[str, Any]]:
        """What the bus handed to its rule's target, in order."""
        found: list[dict[str, Any]] = []
        while True:
            messages = self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
