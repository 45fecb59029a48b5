"""Typed errors of platform sync and the channel routes."""

from livestock.models.exceptions import LiveStockError


class ChannelNotFound(LiveStockError, status=404, code="CHANNEL_NOT_FOUND"):
    """No channel with this id (PUT /channels/{id} makes one)."""


class BadPushSignature(LiveStockError, status=401, code="BAD_SIGNATURE"):
    """A platform's order push whose signature does not verify with the channel's secret."""


class UnacceptableOrder(LiveStockError, status=422, code="VALIDATION_ERROR"):
    """A verified platform order LiveStock cannot hold as asked (0 units, more than an order may
    take): recorded as a refused order line, never answered to the platform as an error."""


class PlatformUnavailable(LiveStockError, status=502, code="PLATFORM_UNAVAILABLE"):
    """A platform failed to take a figure a request waits for (a quota move's lower figure):
    nothing was moved; retry after details.retry_after_s."""


class SyncFailed(Exception):
    """A platform still refused or failed after every in-function attempt: the invocation fails, so
    Lambda retries the event and finally hands it to the dead-letter queue (with an alert)."""
