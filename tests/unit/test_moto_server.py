"""The local moto server caches the JSONPath expressions moto parses for each event and target;
what a rule target receives must not change."""

import json
from typing import Any

import boto3
import jsonpath_ng.ext
from moto import mock_aws

from livestock_local.moto_server import cache_jsonpath_parsing


def _delivered(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each detail put on a bus with a rule whose target is an SQS queue, as that queue got it."""
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        events.create_event_bus(Name="bus")
        url = sqs.create_queue(QueueName="relay")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName="bus", EventPattern=json.dumps({"source": ["livestock"]}))
        events.put_targets(Rule="all", EventBusName="bus", Targets=[{"Id": "relay", "Arn": arn}])
        events.put_events(
            Entries=[
                {"Source": "livestock", "DetailType": "StockLow", "Detail": json.dumps(d), "EventBusName": "bus"}
                for d in details
            ]
        )
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
        return [json.loads(message["Body"]) for message in received]


def test_a_target_gets_the_same_event_with_the_paths_cached() -> None:
    details = [{"sku_id": "tee-black-m", "tier_pct": 20}, {"sku_id": "mug", "tier_pct": 5}]
    before = _delivered(details)
    cache_jsonpath_parsing()
    cache_jsonpath_parsing()  # idempotent: not a cache of a cache
    after = _delivered(details)
    moved = ("id", "time", "ingestion-time")  # new on each put
    assert [{k: v for k, v in e.items() if k not in moved} for e in after] == [
        {k: v for k, v in e.items() if k not in moved} for e in before
    ]
    assert [e["detail"] for e in after] == details
    info = jsonpath_ng.ext.parse.cache_info()  # type: ignore[attr-defined]
    assert info.hits >= 8
    assert info.currsize <= 16
