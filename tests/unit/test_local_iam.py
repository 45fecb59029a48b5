"""The local stack plays IAM: a function's call that its template policy does not allow is refused
as AWS refuses it, and written down for the test session to find."""

import json
import os
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from livestock_local import iam
from livestock_local.template import Template

KEY = {"pk": {"S": "a"}, "sk": {"S": "b"}}


def test_a_call_outside_the_role_is_refused_and_written_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    denials = tmp_path / "denials.jsonl"
    monkeypatch.setenv(iam.DENIALS_VARIABLE, str(denials))
    grants = frozenset({iam.Grant("dynamodb:GetItem", "table/t"), iam.Grant("events:PutEvents")})
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            BillingMode="PAY_PER_REQUEST",
        )
        with iam.acting_as("SomeFunction", grants):
            assert "Item" not in client.get_item(TableName="t", Key=KEY)
            with pytest.raises(ClientError) as refused:
                client.put_item(TableName="t", Item=KEY)
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert "Item" not in client.get_item(TableName="t", Key=KEY), "the refused write was not made"
        client.put_item(TableName="t", Item=KEY)  # outside an invocation: the stack's own call
    written = [json.loads(line) for line in denials.read_text().splitlines()]
    assert written == [{"function": "SomeFunction", "action": "dynamodb:PutItem", "resource": "table/t"}]


def test_calls_need_what_iam_authorises_them_by() -> None:
    transaction = {
        "TransactItems": [
            {"Put": {"TableName": "inv", "Item": KEY}},
            {"Update": {"TableName": "inv", "Key": KEY, "UpdateExpression": "SET a = :a"}},
            {"ConditionCheck": {"TableName": "led", "Key": KEY, "ConditionExpression": "x"}},
        ]
    }
    keyed = frozenset({"a"})
    assert iam.needed("dynamodb", "TransactWriteItems", transaction) == [
        iam.Grant("dynamodb:PutItem", "table/inv", keyed),
        iam.Grant("dynamodb:UpdateItem", "table/inv", keyed),
        iam.Grant("dynamodb:ConditionCheckItem", "table/led", keyed),
    ]
    assert iam.needed(
        "dynamodb", "TransactGetItems", {"TransactItems": [{"Get": {"TableName": "inv", "Key": KEY}}]}
    ) == [iam.Grant("dynamodb:GetItem", "table/inv", keyed)]
    assert iam.needed("dynamodb", "Query", {"TableName": "inv", "IndexName": "ByDue"}) == [
        iam.Grant("dynamodb:Query", "table/inv/index/ByDue")
    ]
    assert iam.needed("execute-api", "PostToConnection", {}) == [iam.Grant("execute-api:ManageConnections")]


def test_the_templates_policies_are_read_per_table() -> None:
    template = Template()
    names = {table: f"livestock-{table}" for table in template.tables()}
    functions = {function.logical_id: function for function in template.functions(names)}
    holds = functions["HoldsApiFunction"].grants
    assert iam.allows(holds, iam.Grant("dynamodb:UpdateItem", "table/livestock-InventoryTable"))
    assert not iam.allows(holds, iam.Grant("dynamodb:UpdateItem", "table/livestock-LedgerTable"))
    sweeper = functions["HoldSweeperFunction"].grants
    assert iam.allows(sweeper, iam.Grant("dynamodb:Query", "table/livestock-InventoryTable/index/OpenHoldsByDue"))
    sync = functions["PlatformSyncFunction"].grants
    assert iam.allows(sync, iam.Grant("dynamodb:BatchWriteItem", "table/livestock-EventsTable")), "its sync log"
    # The console's socket may bump the registry revision and write no other item of that table.
    socket = functions["ConsoleSocketFunction"].grants
    registry = {"TableName": "livestock-EventsTable", "Key": {"pk": {"S": "REGISTRY"}, "sk": {"S": "REVISION"}}}
    other = {"TableName": "livestock-EventsTable", "Key": {"pk": {"S": "CHANNEL#x"}, "sk": {"S": "META"}}}
    assert all(iam.allows(socket, need) for need in iam.needed("dynamodb", "UpdateItem", registry))
    assert not any(iam.allows(socket, need) for need in iam.needed("dynamodb", "UpdateItem", other))


def test_a_missing_object_is_a_403_to_a_role_that_may_not_list_its_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As S3 answers: 404 NoSuchKey only to a caller with s3:ListBucket, AccessDenied to any other
    (moto answers 404 to anyone, which hid a review builder that failed its first build on AWS)."""
    denials = tmp_path / "denials.jsonl"
    monkeypatch.setenv(iam.DENIALS_VARIABLE, str(denials))
    for variable in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
        monkeypatch.delenv(variable)  # a local stack's, left by an earlier test: moto answers here
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="reviews")
        for grants, code in (
            (frozenset({iam.Grant("s3:GetObject")}), "AccessDenied"),
            (frozenset({iam.Grant("s3:GetObject"), iam.Grant("s3:ListBucket")}), "NoSuchKey"),
        ):
            with iam.acting_as("Reader", grants), pytest.raises(ClientError) as refused:
                s3.get_object(Bucket="reviews", Key="reviews/none.json")
            assert refused.value.response["Error"]["Code"] == code
    written = [json.loads(line) for line in denials.read_text().splitlines()]
    assert written == [{"function": "Reader", "action": "s3:ListBucket", "resource": "*"}]
