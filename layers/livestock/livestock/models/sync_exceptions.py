"""Typed errors of platform sync and the channel routes."""

from livestock.models.exceptions import LiveStockError


class ChannelNotFound(LiveStockError, status=404, code="CHANNEL_NOT_FOUND"):
    """No channel with this id (PUT /channels/{id} makes one)."""


class BadPushSignature(LiveStockError, status=401, code="BAD_SIGNATURE"):
    """A platform's order push whose signature does not verify with the channel's secret."""


class SyncFailed(Exception):
    """A platform still refused or failed after every in-function attempt: the invocation fails, so
    Lambda retries the event and finally hands it to the dead-letter queue (with an alert)."""
