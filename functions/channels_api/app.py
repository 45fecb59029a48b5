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
    return upserted(sync_services().channels.put(channel_id, request))


@app.get("/channels/<channel_id>", responses=answers(200, ChannelView, 404))
def get_channel(channel_id: ChannelIdPath) -> Response[ChannelView]:
    return ok(sync_services().channels.get(channel_id))


@app.post("/skus/<sku_id>/quota-moves", responses=answers(200, QuotaMoveView, 404, 409, 502))
def move_quota(sku_id: SkuId, request: Annotated[QuotaMoveRequest, Body()]) -> Response[QuotaMoveView]:
    return ok(sync_services().quota.move(sku_id, request, actor(app, "operator")))


handler = rest_handler(app)
