"""Typed domain errors. Each carries its HTTP status and machine-readable code; one handler maps them."""

from typing import Any, ClassVar, Self


class LiveStockError(Exception):
    """A refusal the API answers as {code, message, details} with its HTTP status. A subclass names
    both in its header: `class SoldOut(LiveStockError, status=409, code="SOLD_OUT")`."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "BAD_REQUEST"

    def __init_subclass__(cls, status: int | None = None, code: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status
        cls.code = code or cls.code

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        # Set once an order's hold holds its refusal (or had moved on): not pending at that attempt.
        self.on_hold = False


class NotFound(LiveStockError, status=404):
    """Something asked for by id does not exist: `noun` names it, `field` is the id's name."""

    noun: ClassVar[str] = "item"
    field: ClassVar[str] = "id"

    def __init_subclass__(cls, noun: str | None = None, field: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.noun = cls.noun if noun is None else noun
        cls.field = cls.field if field is None else field

    @classmethod
    def unless[T](cls, found: T | None, ident: str) -> T:
        """`found`, or this error when it is None."""
        if found is None:
            raise cls(f"{cls.noun} {ident!r} does not exist", {cls.field: ident})
        return found


class SkuNotFound(NotFound, code="SKU_NOT_FOUND", noun="SKU", field="sku_id"):
    """An order, a view or a change names a SKU that was never created (PUT /skus/{id} creates it)."""


class HoldNotFound(NotFound, code="HOLD_NOT_FOUND", noun="hold", field="hold_id"):
    """A view, confirm or cancel names a hold no order created."""


class SessionNotFound(NotFound, code="SESSION_NOT_FOUND", noun="session", field="session_id"):
    """A route or a console token names a live session that was never planned (PUT /sessions/{id})."""


class CampaignNotFound(NotFound, code="CAMPAIGN_NOT_FOUND", noun="campaign", field="campaign_id"):
    """A view, cancel or stage release names a campaign that was never created."""


class SoldOut(LiveStockError, status=409, code="SOLD_OUT"):
    """No pool the order may take from holds enough units (reserve included, once released)."""


class Paused(LiveStockError, status=409, code="PAUSED"):
    """The SKU is paused: no new holds; confirms and cancels still work."""


class VersionConflict(LiveStockError, status=409, code="VERSION_CONFLICT"):
    """The request's expected_version is not the stored one: read again, then decide."""


class InsufficientFreeStock(LiveStockError, status=409, code="INSUFFICIENT_FREE_STOCK"):
    """A decrease, a move or a campaign would take units that are held, sold or ring-fenced."""


class IdempotencyMismatch(LiveStockError, status=409, code="IDEMPOTENCY_MISMATCH"):
    """A replayed reference or order id came with a different body than its first request."""


class InvalidState(LiveStockError, status=409, code="INVALID_STATE"):
    """The thing is not in a state that allows this (confirm an expired hold, start an ended session)."""


class RequestInProgress(LiveStockError, status=409, code="REQUEST_IN_PROGRESS"):
    """The same request is still being applied elsewhere: retry shortly for its answer."""


class Conflict(LiveStockError, status=409, code="CONFLICT"):
    """The thing changed while this request was applied to it: try again."""


class FieldRefused(LiveStockError, status=422, code="VALIDATION_ERROR"):
    """A request well-formed on its own that what is stored refuses, field by field: details.errors
    as a request validation's (location, message, type), so a client reads both the same way."""

    @classmethod
    def at(cls, kind: str, fields: dict[tuple[str | int, ...], str]) -> Self:
        errors = [
            {"location": [str(part) for part in ("body", *location)], "message": why, "type": kind}
            for location, why in fields.items()
        ]
        return cls("the request is not valid", {"errors": errors})


class BadCursor(LiveStockError, status=422, code="VALIDATION_ERROR"):
    """A ledger cursor this API did not give out, or one of another SKU."""


class LimitExceeded(LiveStockError, status=429, code="LIMIT_EXCEEDED"):
    """The buyer would hold more of the SKU than its per-buyer limit (per SKU or per live session)."""


# Refusals of a hold that are stored on the hold record, so a replay gets the same answer.
STORED_REFUSALS: dict[str, type[LiveStockError]] = {
    SoldOut.code: SoldOut,
    Paused.code: Paused,
    LimitExceeded.code: LimitExceeded,
}


class SkuInAnotherSession(LiveStockError, status=409, code="SKU_IN_ANOTHER_SESSION"):
    """A SKU is in the lineup of another session that is live: one live session owns a SKU's limits."""


class ReviewNotReady(LiveStockError, status=409, code="REVIEW_NOT_READY"):
    """The session has not ended, or its review is still being built (retry after details.retry_after_s)."""


class ConsoleUnauthorized(LiveStockError, status=401, code="UNAUTHORIZED"):
    """No console token, an unknown one, or one past its expiry."""


class ConsoleForbidden(LiveStockError, status=403, code="FORBIDDEN"):
    """A valid console token asked for what it does not cover: another session, a SKU outside the
    session's lineup, or an operator action of a watch-only token."""


class NoStagedRelease(LiveStockError, status=409, code="NO_STAGED_RELEASE"):
    """Release-next-stage was asked for a SKU with no staged release planned."""


class CredentialsUnavailable(LiveStockError, status=409, code="CREDENTIALS_UNAVAILABLE"):
    """A channel's credentials reference names no readable credentials (missing, or not the shape
    its platform needs): nothing is verified or sent with them until the channel is fixed."""
