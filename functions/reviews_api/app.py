"""Post-live reviews: a session's review (JSON, CSV or HTML) and a SKU's history across sessions."""

from enum import StrEnum
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from livestock.api.http import SessionId, SkuId, answers, build_resolver, ok, rest_handler
from livestock.dal.reviews import CONTENT_TYPES
from livestock.models.review import Review, SkuHistory
from livestock.wiring import review_service

app = build_resolver()


class ReviewFormat(StrEnum):
    JSON = "json"
    CSV = "csv"
    HTML = "html"


REVIEW_ANSWERS = answers(200, Review, 404, 409)
REVIEW_ANSWERS[200] = {
    "description": "The review: JSON (the default), CSV (one row per SKU x platform) or a self-contained HTML page",
    "content": {
        "application/json": {"model": Review},
        "text/csv": {"schema": {"type": "string"}},
        "text/html": {"schema": {"type": "string"}},
    },
}


@app.get("/sessions/<session_id>/review", responses=REVIEW_ANSWERS)
def get_review(
    session_id: SessionId,
    format: Annotated[ReviewFormat, Query(description="json, csv or html")] = ReviewFormat.JSON,
) -> Response[str]:
    """The session's post-live review: JSON, CSV (a row per SKU and platform) or an HTML page.

    404 `SESSION_NOT_FOUND`. 409 `REVIEW_NOT_READY`: the session has not ended, or its review is being
    built (retry after `details.retry_after_s`)."""
    body = review_service().read(session_id, format.value)
    return Response(status_code=200, content_type=CONTENT_TYPES[format.value], body=body)


@app.get("/skus/<sku_id>/history", responses=answers(200, SkuHistory, 404))
def sku_history(
    sku_id: SkuId, limit: Annotated[int, Query(ge=1, le=100, description="Sessions, newest first")] = 20
) -> Response[SkuHistory]:
    """The SKU's reviewed sessions, newest first: sold, time to sell-out, forecast miss.

    404 `SKU_NOT_FOUND`."""
    return ok(review_service().history_of(sku_id, limit))


handler = rest_handler(app)
