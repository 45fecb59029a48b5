"""A live session with a console token, through the local stack's HTTP API."""

import uuid
from dataclasses import dataclass
from typing import Any

from tests.support.api import Api

CHANNELS = ["douyin", "kuaishou", "taobao"]


@dataclass
class ConsoleSession:
    session_id: str
    sku_ids: list[str]
    token: str
    console_url: str
    websocket_url: str


def plan(api: Api, sku_ids: list[str], on_hand: int | None = 100, channels: list[str] = CHANNELS) -> str:
    """A planned session of these SKUs (created with `on_hand` units, unless None: they exist)."""
    session_id = f"live-{uuid.uuid4().hex[:8]}"
    for sku_id in sku_ids:
        if on_hand is not None:
            assert api.put(f"/skus/{sku_id}", {"name": f"Tee {sku_id}", "on_hand": on_hand}).status == 201
    body: dict[str, Any] = {
        "title": "Console live",
        "channels": channels,
        "starts_at": "2027-01-15T12:00:00Z",
        "ends_at": "2027-01-15T14:00:00Z",
        "lineup": [{"sku_id": sku_id} for sku_id in sku_ids],
    }
    answer = api.put(f"/sessions/{session_id}", body)
    assert answer.status == 201, answer
    return session_id


def console(api: Api, session_id: str, sku_ids: list[str], operate: bool = True, ttl_s: int = 3600) -> ConsoleSession:
    answer = api.post("/console/tokens", {"session_id": session_id, "operate": operate, "ttl_s": ttl_s})
    assert answer.status == 201, answer
    return ConsoleSession(
        session_id, sku_ids, answer.body["token"], answer.body["console_url"], answer.body["websocket_url"]
    )
