"""Typed errors of platform sync and the channel routes."""

from livestock.models.exceptions import LiveStockError


class ChannelNotFound(LiveStockError):
    status = 404
    code = "CHANNEL_NOT_FOUND"


class BadPushSignature(LiveStockError):
    status = 401
    code = "BAD_SIGNATURE"


class SyncFailed(Exception):
    """A platform still refused or failed after every in-function attempt: the invocation fails, so
    Lambda retries the event and finally hands it to the dead-letter queue (with an alert)."""
