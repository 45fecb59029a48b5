"""Order messages the platforms push (created, paid, cancelled), one route per channel. No API key:
each push is verified by its platform's own signature scheme; a bad one is 401 and changes nothing."""

import base64
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

from livestock.api.http import ChannelIdPath, answers, build_resolver, rest_handler
from livestock.wiring import sync_services

app = build_resolver()


@app.post("/platforms/<channel_id>/orders", responses=answers(200, None, 401, 404, 409))
def receive(channel_id: ChannelIdPath) -> Response[Any]:
    """A platform's signed order push (created, paid, cancelled): a hold, its confirmation, its release.

    No API key: each platform's own signature is verified first. Answers the platform's acknowledgement,
    also when LiveStock refuses the order (recorded as platform-side oversell). 401 `BAD_SIGNATURE`: the
    signature or decryption does not verify, or the verified body is not the shape the platform's
    messages have; nothing changed. 404 `CHANNEL_NOT_FOUND`. 409
    `CREDENTIALS_UNAVAILABLE`: the channel's secret cannot be read, or lacks a key its scheme needs;
    `REQUEST_IN_PROGRESS`: the order's hold is still being placed (the platform redelivers)."""
    event = app.current_event
    raw = event.body or ""
    body = base64.b64decode(raw) if event.is_base64_encoded else raw.encode()
    ack, _ = sync_services().inbound.receive(channel_id, dict(event.headers), dict(event.query_string_parameters), body)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=ack)


handler = rest_handler(app)
