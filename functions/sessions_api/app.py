"""Live sessions: plan (PUT), read, start (the lineup's limits and alert tiers apply), end; and
their campaigns (staged releases): create, read, cancel, release a stage now."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from livestock.api.http import (
    CampaignId,
    SessionId,
    StageNumber,
    actor,
    answers,
    build_resolver,
    ok,
    rest_handler,
    upserted,
)
from livestock.models.campaigns import CampaignRequest, CampaignView
from livestock.models.sessions import SessionRequest, SessionView
from livestock.wiring import campaign_service, session_service

app = build_resolver()


@app.put("/sessions/<session_id>", responses=answers(200, SessionView, 404, 409, also=(201,)))
def put_session(session_id: SessionId, request: Annotated[SessionRequest, Body()]) -> Response[SessionView]:
    return upserted(session_service().put(session_id, request, actor(app, "operator")))


@app.get("/sessions/<session_id>", responses=answers(200, SessionView, 404))
def get_session(session_id: SessionId) -> Response[SessionView]:
    return ok(session_service().view(session_id))


@app.post("/sessions/<session_id>/start", responses=answers(200, SessionView, 404, 409))
def start_session(session_id: SessionId) -> Response[SessionView]:
    return ok(session_service().start(session_id, actor(app, "operator")))


@app.post("/sessions/<session_id>/end", responses=answers(200, SessionView, 404, 409))
def end_session(session_id: SessionId) -> Response[SessionView]:
    return ok(session_service().end(session_id, actor(app, "operator")))


@app.post("/sessions/<session_id>/campaigns", responses=answers(201, CampaignView, 404, 409, also=(200,)))
def create_campaign(session_id: SessionId, request: Annotated[CampaignRequest, Body()]) -> Response[CampaignView]:
    return upserted(campaign_service().create(session_id, request, actor(app, "operator")))


@app.get("/campaigns/<campaign_id>", responses=answers(200, CampaignView, 404))
def get_campaign(campaign_id: CampaignId) -> Response[CampaignView]:
    return ok(campaign_service().view(campaign_id))


@app.post("/campaigns/<campaign_id>/cancel", responses=answers(200, CampaignView, 404, 409))
def cancel_campaign(campaign_id: CampaignId) -> Response[CampaignView]:
    return ok(campaign_service().cancel(campaign_id, actor(app, "operator")))


@app.post("/campaigns/<campaign_id>/stages/<stage>/release", responses=answers(200, CampaignView, 404, 409))
def release_stage(campaign_id: CampaignId, stage: StageNumber) -> Response[CampaignView]:
    return ok(campaign_service().release_stage(campaign_id, int(stage), actor(app, "host")))


handler = rest_handler(app)
