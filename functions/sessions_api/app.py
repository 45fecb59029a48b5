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
    """Plan a live session (platforms, window, lineup with limits, alert tiers, forecasts).

    201 when created; 200 when a planned session is replaced. 404 `SKU_NOT_FOUND`: a lineup SKU does not
    exist. 409 `INVALID_STATE`: the session is live or ended; `VERSION_CONFLICT`: `expected_version` is not
    the stored version."""
    return upserted(session_service().put(session_id, request, actor(app, "operator")))


@app.get("/sessions/<session_id>", responses=answers(200, SessionView, 404))
def get_session(session_id: SessionId) -> Response[SessionView]:
    """The session: its plan and status.

    404 `SESSION_NOT_FOUND`."""
    return ok(session_service().view(session_id))


@app.post("/sessions/<session_id>/start", responses=answers(200, SessionView, 404, 409))
def start_session(session_id: SessionId) -> Response[SessionView]:
    """Start the live: claim the lineup's SKUs, apply their limits and alert tiers, go live.

    Idempotent once live. 404 `SESSION_NOT_FOUND`. 409 `INVALID_STATE`: the session has ended;
    `SKU_IN_ANOTHER_SESSION`: another live has a lineup SKU; `CONFLICT`: the session was replanned or
    taken over while starting."""
    return ok(session_service().start(session_id, actor(app, "operator")))


@app.post("/sessions/<session_id>/end", responses=answers(200, SessionView, 404, 409))
def end_session(session_id: SessionId) -> Response[SessionView]:
    """End the live: free its SKUs, end it (its review is built), then cancel its active campaigns.

    Idempotent: ending an ended session finishes what a failed end left. 404 `SESSION_NOT_FOUND`.
    409 `INVALID_STATE`: the session was never started; `CONFLICT`: it changed while ending (retry)."""
    return ok(session_service().end(session_id, actor(app, "operator")))


@app.get("/campaigns/<campaign_id>", responses=answers(200, CampaignView, 404))
def get_campaign(campaign_id: CampaignId) -> Response[CampaignView]:
    """The campaign and its stages (pending, released, cancelled).

    404 `CAMPAIGN_NOT_FOUND`."""
    return ok(campaign_service().view(campaign_id))


@app.post("/sessions/<session_id>/campaigns", responses=answers(201, CampaignView, 404, 409, also=(200,)))
def create_campaign(session_id: SessionId, request: Annotated[CampaignRequest, Body()]) -> Response[CampaignView]:
    """Plan a flash sale's staged releases for one SKU of the lineup.

    The total leaves shared at once into the campaign's pool; each stage moves into `target_pool` at its
    time. 201 when created; 200 for a retry with the same body. 404 `SESSION_NOT_FOUND`.
    409 `INSUFFICIENT_FREE_STOCK`: shared holds fewer unsold units than the stages' total; `INVALID_STATE`:
    the session has ended, or the SKU is not in its lineup; `IDEMPOTENCY_MISMATCH`: the `campaign_id` was
    used with another body. 422 `VALIDATION_ERROR` also for a stage due more than 6 h before the session's
    planned start or after its planned end."""
    return upserted(campaign_service().create(session_id, request, actor(app, "operator")))


@app.post("/campaigns/<campaign_id>/cancel", responses=answers(200, CampaignView, 404, 409))
def cancel_campaign(campaign_id: CampaignId) -> Response[CampaignView]:
    """Cancel the campaign: units not yet released go back to shared, no stage is released after.

    Idempotent. 404 `CAMPAIGN_NOT_FOUND`. 409 `INVALID_STATE`: every stage was already released."""
    return ok(campaign_service().cancel(campaign_id, actor(app, "operator")))


@app.post("/campaigns/<campaign_id>/stages/<stage>/release", responses=answers(200, CampaignView, 404, 409))
def release_stage(campaign_id: CampaignId, stage: StageNumber) -> Response[CampaignView]:
    """Release stage n now rather than at its time, once.

    404 `CAMPAIGN_NOT_FOUND`. 409 `INVALID_STATE`: the campaign has no stage n, or was cancelled."""
    return ok(campaign_service().release_stage(campaign_id, int(stage), actor(app, "host")))


handler = rest_handler(app)
