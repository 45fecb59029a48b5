"""Channels (a platform shop and its sync settings), their per-SKU sync state, and quota moves."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from livestock.api.http import ChannelIdPath, SkuId, actor, answers, build_resolver, ok, rest_handler, upserted
from livestock.models.channels import ChannelRequest, ChannelView, QuotaMoveRequest, QuotaMoveView
from livestock.wiring import sync_services

app = build_resolver()


@app.put("/channels/<channel_id>", responses=answers(200, ChannelView, also=(201,)))
def put_channel(channel_id: ChannelIdPath, request: Annotated[ChannelRequest, Body()]) -> Response[ChannelView]:
    """Save a platform shop: its platform, sync mode, API endpoint, credentials reference, SKU map.

    201 when created, 200 after; the platforms are then set to what they should show. 422
    `VALIDATION_ERROR` also for an endpoint other than the platform's API host over HTTPS (the sync sends
    it the shop's credentials), or a private address for the own shop."""
    return upserted(sync_services().channels.put(channel_id, request))


@app.get("/channels/<channel_id>", responses=answers(200, ChannelView, 404))
def get_channel(channel_id: ChannelIdPath) -> Response[ChannelView]:
    """The channel and, per SKU, its sync: shown, sent, acknowledged, lag, orders refused.

    404 `CHANNEL_NOT_FOUND`."""
    return ok(sync_services().channels.get(channel_id))


@app.post("/skus/<sku_id>/quota-moves", responses=answers(200, QuotaMoveView, 404, 409, 502))
def move_quota(sku_id: SkuId, request: Annotated[QuotaMoveRequest, Body()]) -> Response[QuotaMoveView]:
    """Move unsold units from one quota-mode platform to another, mid-live, once per `reference`.

    The giver is lowered first and its orders in flight drained, then the ledger moves, then the taker
    is raised. 404 `CHANNEL_NOT_FOUND`. 409 `INSUFFICIENT_FREE_STOCK`: the giver's quota has fewer unsold
    units; `CONFLICT`: a channel is not in quota mode or does not sell the SKU; `IDEMPOTENCY_MISMATCH`: the
    `reference` was used for another move; `REQUEST_IN_PROGRESS`: the giver did not acknowledge its lower
    figure in time, nothing moved; `CREDENTIALS_UNAVAILABLE`. 502 `PLATFORM_UNAVAILABLE`: the giver
    refused its lower figure, nothing moved."""
    return ok(sync_services().quota.move(sku_id, request, actor(app, "operator")))


handler = rest_handler(app)
