"""The one place where errors become HTTP answers: {"code", "message", "details"}."""

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from livestock.dal.expressions import TransactionRefused
from livestock.models.exceptions import LiveStockError
from livestock.observability import logger


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response[str]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps({"code": code, "message": message, "details": details or {}}),
    )


def _field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return [
        {
            "location": [str(part) for part in item.get("loc", ())],
            "message": str(item.get("msg", "")),
            "type": str(item.get("type", "")),
        }
        for item in error.errors()
    ]


def register_error_handlers(app: APIGatewayRestResolver) -> None:
    def domain_error(error: LiveStockError) -> Response[str]:
        logger.info("refused", code=error.code, details=error.details)
        return error_response(error.status, error.code, error.message, error.details)

    def validation_error(error: RequestValidationError) -> Response[str]:
        return error_response(422, "VALIDATION_ERROR", "the request is not valid", {"errors": _field_errors(error)})

    def write_conflict(_: TransactionRefused) -> Response[str]:
        # Only a conflict gets here (a refused condition is an answer of its own): nothing was
        # written, and the same request may simply be sent again.
        return error_response(409, "CONFLICT", "another write to the same items was in flight; retry", {})

    def not_found(_: Exception) -> Response[str]:
        return error_response(404, "ROUTE_NOT_FOUND", "no such route", {"path": app.current_event.path})

    app.exception_handler(LiveStockError)(domain_error)
    app.exception_handler(RequestValidationError)(validation_error)
    app.exception_handler(TransactionRefused)(write_conflict)
    app.not_found(not_found)
