"""What the stack's database holds cannot be read or changed without the key only the stack holds:
the probe that oversold (made-up credentials writing a shard straight into DynamoDB Local) now
sees an empty database of its own and changes nothing, and no web page can call DynamoDB Local."""

import stat
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from livestock.keys import STOCK_SK, shard_pk
from livestock_local.dynamodb_local import Credentials, DynamoDBLocal, client, free_port
from livestock_local.stack import LocalStack
from tests.support.api import Api
from tests.support.checks import settled_reconciliation

pytestmark = pytest.mark.integration

# The credentials a probe makes up, and the ones the stack used to take from anyone.
INVENTED = [("AKIAPROBE0000000000", "made-up"), ("local", "local"), ("testing", "testing")]


def intruder(endpoint: str, key_id: str, secret: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1}),
    )


def bypass(endpoint: str, key_id: str, secret: str, table: str, sku_id: str) -> tuple[list[str], list[str]]:
    """The probe of issue 16: list the tables, then set every shard of the SKU to 1,000,000.
    Returns the tables seen and the error codes of the writes (none for a write that landed)."""
    dynamodb = intruder(endpoint, key_id, secret)
    seen: list[str] = dynamodb.list_tables()["TableNames"]
    refused = []
    for shard in range(8):
        try:
            dynamodb.update_item(
                TableName=table,
                Key={"pk": {"S": shard_pk(sku_id, "shared", shard)}, "sk": {"S": STOCK_SK}},
                UpdateExpression="SET available = :a",
                ExpressionAttributeValues={":a": {"N": "1000000"}},
            )
        except ClientError as error:
            refused.append(str(error.response["Error"]["Code"]))
    return seen, refused


def test_invented_credentials_see_an_empty_database_and_change_nothing(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    assert api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 10}).status == 201
    before = settled_reconciliation(stack, api, sku_id)
    assert stack.database is not None
    for key_id, secret in INVENTED:
        seen, refused = bypass(stack.database.endpoint, key_id, secret, stack.table_names["InventoryTable"], sku_id)
        assert seen == [], f"{key_id} listed the stack's tables"
        assert refused == ["ResourceNotFoundException"] * 8, f"{key_id} wrote to the stack's table"
    oversell = api.post("/holds", {"channel": "douyin", "order_id": "probe-1", "sku_id": sku_id, "quantity": 500})
    assert oversell.status == 409, oversell.body
    assert api.get(f"/skus/{sku_id}").body["on_hand"] == 10
    after = settled_reconciliation(stack, api, sku_id)
    assert after["consistent"] is True
    assert after == before


def test_no_web_page_may_call_dynamodb_local(stack: LocalStack) -> None:
    assert stack.database is not None
    preflight = requests.options(
        stack.database.endpoint,
        headers={
            "Origin": "https://any-page.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,x-amz-target,content-type",
        },
        timeout=10,
    )
    assert "access-control-allow-origin" not in {k.lower() for k in preflight.headers}, preflight.headers


def test_the_key_is_private_and_reopens_the_same_data(tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "dynamodb-credentials.json"
    data = tmp_path / "state" / "dynamodb"
    credentials = Credentials.kept_in(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert Credentials.kept_in(key_file) == credentials, "the same file gives the same key"

    first = DynamoDBLocal(free_port(), data, credentials=credentials)
    first.start()
    try:
        dynamodb: Any = client(first.endpoint, credentials)
        dynamodb.create_table(
            TableName="kept",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        dynamodb.put_item(TableName="kept", Item={"pk": {"S": "still-here"}})
    finally:
        first.stop()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700, "the database file is named after the key id"

    second = DynamoDBLocal(free_port(), data, credentials=Credentials.kept_in(key_file))
    second.start()
    try:
        reopened: Any = client(second.endpoint, second.credentials)
        assert reopened.get_item(TableName="kept", Key={"pk": {"S": "still-here"}}).get("Item")
        assert intruder(second.endpoint, "local", "local").list_tables()["TableNames"] == []
    finally:
        second.stop()


def test_a_write_with_the_stacks_own_key_is_recorded_unattributed_and_alerted(
    stack: LocalStack, api: Api, sku_id: str
) -> None:
    """Whoever holds the key (an insider, a leaked state folder) can still write; that write cannot
    pass for a sale: the ledger names it unattributed, reconciliation says inconsistent, and the
    alert topic gets a critical UnattributedChange."""
    assert api.put(f"/skus/{sku_id}", {"name": "Tee", "on_hand": 10}).status == 201
    assert settled_reconciliation(stack, api, sku_id)["consistent"] is True
    assert stack.database is not None
    key = stack.database.credentials
    seen, refused = bypass(
        stack.database.endpoint, key.access_key_id, key.secret_access_key, stack.table_names["InventoryTable"], sku_id
    )
    assert stack.table_names["InventoryTable"] in seen
    assert refused == []  # the key opens the database: what follows is what catches the write
    # The stray writes are read first (slow beside another worker's stack); then it never settles.
    stack.wait_for_streams(timeout_s=120)
    after = settled_reconciliation(stack, api, sku_id, timeout_s=5)
    assert after["consistent"] is False
    # Shard 0 is the SKU's one shard; the writes to shards 1-7 made stray items no reader counts.
    assert after["unattributed"] == {"movements": 1, "units": 1_000_000 - 10}
    ledger = api.get(f"/skus/{sku_id}/ledger?limit=50").body["movements"]
    assert sum(1 for m in ledger if m["op"] == "unattributed") == 1
    deadline = time.monotonic() + 60
    alerts: list[str] = []
    while time.monotonic() < deadline and not alerts:
        stack.wait_for_streams()
        alerts += [m for m in stack.eventbridge.topic_messages("AlertTopic") if sku_id in m]
    assert len(alerts) == 1 and "no LiveStock operation made" in alerts[0], alerts
