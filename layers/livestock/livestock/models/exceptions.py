"""Typed domain errors. Each carries its HTTP status and machine-readable code; one handler maps them."""

from typing import Any


class LiveStockError(Exception):
    status = 400
    code = "BAD_REQUEST"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class SkuNotFound(LiveStockError):
    status = 404
    code = "SKU_NOT_FOUND"


class HoldNotFound(LiveStockError):
    status = 404
    code = "HOLD_NOT_FOUND"


class SoldOut(LiveStockError):
    status = 409
    code = "SOLD_OUT"


class Paused(LiveStockError):
    status = 409
    code = "PAUSED"


class VersionConflict(LiveStockError):
    status = 409
    code = "VERSION_CONFLICT"


class InsufficientFreeStock(LiveStockError):
    status = 409
    code = "INSUFFICIENT_FREE_STOCK"


class IdempotencyMismatch(LiveStockError):
    status = 409
    code = "IDEMPOTENCY_MISMATCH"


class InvalidState(LiveStockError):
    status = 409
    code = "INVALID_STATE"


class RequestInProgress(LiveStockError):
    status = 409
    code = "REQUEST_IN_PROGRESS"


class Conflict(LiveStockError):
    status = 409
    code = "CONFLICT"


class BadCursor(LiveStockError):
    status = 422
    code = "VALIDATION_ERROR"


class LimitExceeded(LiveStockError):
    status = 429
    code = "LIMIT_EXCEEDED"


# Refusals of a hold that are stored on the hold record, so a replay gets the same answer.
STORED_REFUSALS: dict[str, type[LiveStockError]] = {
    SoldOut.code: SoldOut,
    Paused.code: Paused,
    LimitExceeded.code: LimitExceeded,
}


class SessionNotFound(LiveStockError):
    status = 404
    code = "SESSION_NOT_FOUND"


class SkuInAnotherSession(LiveStockError):
    """A SKU is in the lineup of another session that is live: one live session owns a SKU's limits."""

    status = 409
    code = "SKU_IN_ANOTHER_SESSION"


class CampaignNotFound(LiveStockError):
    status = 404
    code = "CAMPAIGN_NOT_FOUND"


class ReviewNotReady(LiveStockError):
    """The session has not ended, or its review is still being built (retry after details.retry_after_s)."""

    status = 409
    code = "REVIEW_NOT_READY"


class ConsoleUnauthorized(LiveStockError):
    """No console token, an unknown one, or one past its expiry."""

    status = 401
    code = "UNAUTHORIZED"


class ConsoleForbidden(LiveStockError):
    """A valid console token asked for what it does not cover: another session, a SKU outside the
    session's lineup, or an operator action of a watch-only token."""

    status = 403
    code = "FORBIDDEN"


class NoStagedRelease(LiveStockError):
    """Release-next-stage was asked for a SKU with no staged release planned."""

    status = 409
    code = "NO_STAGED_RELEASE"


class CredentialsUnavailable(LiveStockError):
    """A channel's credentials reference names no readable credentials (missing, or not the shape
    its platform needs): nothing is verified or sent with them until the channel is fixed."""

    status = 409
    code = "CREDENTIALS_UNAVAILABLE"
