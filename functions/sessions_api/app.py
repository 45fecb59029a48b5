"""Live sessions: plan (PUT), read, start (the lineup's limits and alert tiers apply), end."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from livestock.api.http import SessionId, actor, answers, build_resolver, json_response, rest_handler
from livestock.models.sessions import SessionRequest, SessionView
from livestock.wiring import session_service

app = build_resolver()


@app.put("/sessions/<session_id>", responses=answers(200, SessionView, 404, 409, also=(201,)))
def put_session(session_id: SessionId, request: Annotated[SessionRequest, Body()]) -> Response[SessionView]:
    view, created = session_service().put(session_id, request, actor(app, "operator"))
    return json_response(201 if created else 200, view)


@app.get("/sessions/<session_id>", responses=answers(200, SessionView, 404))
def get_session(session_id: SessionId) -> Response[SessionView]:
    return json_response(200, session_service().view(session_id))


@app.post("/sessions/<session_id>/start", responses=answers(200, SessionView, 404, 409))
def start_session(session_id: SessionId) -> Response[SessionView]:
    return json_response(200, session_service().start(session_id, actor(app, "operator")))


@app.post("/sessions/<session_id>/end", responses=answers(200, SessionView, 404, 409))
def end_session(session_id: SessionId) -> Response[SessionView]:
    return json_response(200, session_service().end(session_id, actor(app, "operator")))


handler = rest_handler(app)
