"""Order messages pushed by the platforms, turned into the same holds, confirms and cancels as the
API. Each platform's message is verified by its own scheme before anything is read from it; a bad
signature changes nothing. A message is idempotent by the platform's order id (one inbound line per
(channel, order, SKU) and the hold id derived from them): a replay, under any message id, changes
nothing.

Every created order counts towards `received` on the (channel, SKU) sync state, refused or not:
the platform took those units off its display when it accepted the order, and gives them back only
when it cancels it (the cancel message takes them off `received`). Sync's read-back reasons with it.
"""

import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, StringConstraints, ValidationError

from livestock import keys
from livestock.dal.channels import ChannelRepository
from livestock.logic.holds import HoldService
from livestock.logic.platform_sync import CredentialsSource
from livestock.models.exceptions import (
    Conflict,
    CredentialsUnavailable,
    HoldNotFound,
    InvalidState,
    LiveStockError,
    RequestInProgress,
)
from livestock.models.input import HoldRequest
from livestock.models.sync_exceptions import BadPushSignature, ChannelNotFound, UnacceptableOrder
from livestock.observability import count_metric, logger
from livestock.platforms import signing
from livestock.platforms.adapters import PlatformCredentials

Kind = Literal["created", "paid", "cancelled", "other"]

DOUYIN_TAGS: dict[str, Kind] = {"100": "created", "101": "paid", "106": "cancelled"}
KUAISHOU_EVENTS: dict[str, Kind] = {
    "kwaishop_order_addOrder": "created",
    "kwaishop_order_paySuccess": "paid",
    "kwaishop_order_orderFail": "cancelled",
}
TAOBAO_TOPICS: dict[str, Kind] = {
    "taobao_trade_TradeCreate": "created",
    "taobao_trade_TradeBuyerPay": "paid",
    "taobao_trade_TradeClose": "cancelled",
}
WECHAT_EVENTS: dict[str, Kind] = {
    "channels_ec_order_new": "created",
    "channels_ec_order_pay": "paid",
    "channels_ec_order_cancel": "cancelled",
}
# What each platform expects back once it may stop resending.
ACKS: dict[str, Any] = {
    "douyin": {"code": 0, "msg": "success"},
    "kuaishou": {"result": 1},
    "taobao": {"result": "ok"},
    "wechat": {"errcode": 0, "errmsg": "success"},
    "webhook": {"received": True},
}


# The signed webhook's "type": "order.<kind>" (a bare "<kind>" is read the same).
WEBHOOK_TYPES: dict[str, Kind] = {
    f"{prefix}{kind}": kind for prefix in ("order.", "") for kind in ("created", "paid", "cancelled")
}


# A platform's identifiers are short; anything longer is not a message we know (and would not fit a key).
PlatformId = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class OrderMessage(BaseModel):
    kind: Kind
    msg_id: PlatformId
    order_id: PlatformId
    product_id: PlatformId
    platform_sku_id: PlatformId
    quantity: int


@dataclass(frozen=True)
class MessageFields:
    """Where a platform's order message keeps each field: the event and the message id in its
    envelope, the order's own fields in its order part."""

    kinds: dict[str, Kind]
    event: str
    msg_id: str
    order_id: str
    product_id: str
    sku_id: str
    quantity: str

    def read(self, envelope: Mapping[str, Any], order: Mapping[str, Any]) -> OrderMessage | None:
        """The message, or None for one whose ids no key can hold (empty, or longer than a platform's
        ids are): logged and counted, and acknowledged with the push, since every redelivery would
        carry the same ids (the push verified, so the platform sent it)."""
        try:
            return OrderMessage(
                kind=self.kinds.get(str(envelope[self.event]), "other"),
                msg_id=str(envelope[self.msg_id]),
                order_id=str(order[self.order_id]),
                product_id=str(order[self.product_id]),
                platform_sku_id=str(order[self.sku_id]),
                quantity=int(order[self.quantity]),
            )
        except ValidationError as invalid:
            logger.error("a verified order message LiveStock cannot read", errors=invalid.errors(include_input=False))
            count_metric("PlatformMessagesUnreadable", 1)
            return None


# An order line moves at most twice (created, then paid or refused, then cancelled): a cancel that
# loses a race reads it again at most this often.
LINE_MOVES = 3

MESSAGE_FIELDS = {
    "douyin": MessageFields(DOUYIN_TAGS, "tag", "msg_id", "p_id", "product_id", "sku_id", "num"),
    "kuaishou": MessageFields(KUAISHOU_EVENTS, "event", "msgId", "oid", "itemId", "skuId", "num"),
    "taobao": MessageFields(TAOBAO_TOPICS, "topic", "id", "tid", "num_iid", "sku_id", "num"),
    "wechat": MessageFields(WECHAT_EVENTS, "Event", "MsgId", "order_id", "product_id", "sku_id", "sku_cnt"),
    "webhook": MessageFields(WEBHOOK_TYPES, "type", "msg_id", "order_id", "product_id", "sku_id", "quantity"),
}


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


# The credentials a platform's push is verified with: an empty one would verify a forgery.
PUSH_KEYS: dict[str, tuple[str, ...]] = {
    "douyin": ("app_key", "app_secret"),
    "kuaishou": ("message_secret",),
    "taobao": ("app_key", "app_secret"),
    "wechat": ("token", "encoding_aes_key", "app_id"),
    "webhook": ("secret",),
}


def parse_push(
    platform: str,
    credentials: PlatformCredentials,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    now: float,
) -> list[OrderMessage]:
    """Verifies a push by its platform's scheme and reads its order messages. PushRejected: refused.
    CredentialsUnavailable: the channel's secret lacks a key the scheme needs (nothing is verified)."""
    headers = _lower(headers)
    fields = MESSAGE_FIELDS.get(platform, MESSAGE_FIELDS["webhook"])
    missing = [name for name in PUSH_KEYS.get(platform, PUSH_KEYS["webhook"]) if not getattr(credentials, name)]
    if missing:
        raise CredentialsUnavailable("the channel's credentials cannot verify its pushes", {"missing": missing})
    try:
        if platform == "douyin":
            signing.verify_douyin_push(credentials.app_key, credentials.app_secret, headers, body)
            read = [fields.read(m, json.loads(m["data"])) for m in json.loads(body)]
        elif platform == "kuaishou":
            text = body.strip()
            if text.startswith(b'"'):
                text = str(json.loads(text)).encode()
            message = signing.kuaishou_decrypt(text, credentials.message_secret)
            read = [fields.read(message, json.loads(message["info"]))]
        elif platform == "taobao":
            envelope = {str(k): str(v) for k, v in json.loads(body).items()}
            expected = signing.taobao_sign(envelope, credentials.app_secret)
            if envelope.get("app_key") != credentials.app_key or not hmac.compare_digest(
                envelope.get("sign", ""), expected
            ):
                raise signing.PushRejected("TMC message sign does not match")
            read = [fields.read(envelope, json.loads(envelope["content"]))]
        elif platform == "wechat":
            message = signing.verify_wechat_push(
                credentials.token, credentials.encoding_aes_key, credentials.app_id, query, body, now
            )
            read = [fields.read(message, message["order_info"])]
        else:
            signing.verify_webhook(credentials.secret, headers.get("x-livestock-signature", ""), body, now)
            message = json.loads(body)
            read = [fields.read(message, message)]
        return [readable for readable in read if readable is not None]
    except signing.PushRejected:
        raise
    except (ValueError, KeyError, TypeError) as failure:
        # Verified (or decrypted) but not the shape we know: the platform changed its message.
        raise signing.PushRejected(f"unreadable message: {type(failure).__name__}") from failure


@dataclass
class InboundOrders:
    channels: ChannelRepository
    holds: HoldService
    credentials: CredentialsSource
    clock: Callable[[], float] = time.time

    def receive(
        self, channel_id: str, headers: Mapping[str, str], query: Mapping[str, str], body: bytes
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """Returns (the platform's acknowledgement, each message's outcome)."""
        channel = self.channels.get_channel(channel_id)
        if channel is None:
            raise ChannelNotFound(f"no channel {channel_id!r}", {"channel_id": channel_id})
        platform = str(channel["platform"])
        try:
            messages = parse_push(
                platform, self.credentials.get(channel["credentials_ref"]), headers, query, body, self.clock()
            )
        except signing.PushRejected as rejected:
            logger.warning("order push refused", channel=channel_id, reason=str(rejected))
            raise BadPushSignature("the push does not verify", {"channel_id": channel_id}) from None
        by_platform_ids = {
            (str(ids["product_id"]), str(ids["sku_id"])): sku_id for sku_id, ids in channel["sku_map"].items()
        }
        outcomes: dict[str, str] = {}
        for message in messages:
            sku_id = by_platform_ids.get((message.product_id, message.platform_sku_id))
            if sku_id is None or message.kind == "other":
                outcomes[message.msg_id] = "ignored"
                continue
            outcomes[message.msg_id] = self._apply(channel_id, sku_id, message)
        return ACKS[platform], outcomes

    def _apply(self, channel_id: str, sku_id: str, message: OrderMessage) -> str:
        hold_id = keys.hold_id_for(channel_id, message.order_id, sku_id)
        if message.kind == "created":
            return self._created(channel_id, sku_id, hold_id, message)
        if message.kind == "paid":
            return self._paid(channel_id, sku_id, hold_id, message)
        return self._cancelled_message(channel_id, sku_id, hold_id, message)

    def _created(self, channel_id: str, sku_id: str, hold_id: str, message: OrderMessage) -> str:
        if not self.channels.open_order(
            channel_id, message.order_id, sku_id, message.quantity, message.msg_id, self.clock()
        ) and self._cancelled(channel_id, message.order_id, sku_id):
            # The cancel came first, or this is a redelivery after it: any hold goes.
            return self._cancel_hold(hold_id, channel_id)
        try:
            self.holds.place(self._hold_request(channel_id, sku_id, message))
        except RequestInProgress:
            raise
        except LiveStockError as refusal:
            self._refused(channel_id, sku_id, message, refusal.code)
            return f"refused:{refusal.code}"
        if self._cancelled(channel_id, message.order_id, sku_id):
            # The cancel came while the hold was being placed and found none: it goes now.
            return self._cancel_hold(hold_id, channel_id)
        return "held"

    def _paid(self, channel_id: str, sku_id: str, hold_id: str, message: OrderMessage) -> str:
        """Confirms the order's hold. A paid message that overtook its created message (platforms do
        not promise order) places the hold as the created message would, then confirms it: dropped,
        the hold placed later would expire unpaid and its units be sold again while the platform
        ships the paid order. A hold that expired before the payment came is an order the platform
        sold and LiveStock no longer holds: counted as platform-side oversell, for the merchant."""
        actor = keys.channel_actor(channel_id)
        try:
            self.holds.confirm(hold_id, actor)
        except HoldNotFound:
            placed = self._created(channel_id, sku_id, hold_id, message)
            if placed != "held":
                return placed
            self.holds.confirm(hold_id, actor)
        except InvalidState as refusal:
            if self._refused(channel_id, sku_id, message, "PAID_AFTER_RELEASE"):
                logger.warning("a paid order's hold was released first", channel=channel_id, order=message.order_id)
            return f"not-confirmed:{refusal.code}"
        self.channels.move_order(channel_id, message.order_id, sku_id, "created", "paid")
        return "confirmed"

    def _refused(self, channel_id: str, sku_id: str, message: OrderMessage, code: str) -> bool:
        """Platform-side oversell: an order the platform accepted that LiveStock does not hold. The
        line moves from created once, its units counted as refused with it; False if it had moved."""
        return self.channels.move_order(
            channel_id,
            message.order_id,
            sku_id,
            "created",
            "refused",
            counts={"orders_refused": 1, "units_refused": message.quantity},
            refusal=code,
        )

    def _cancelled_message(self, channel_id: str, sku_id: str, hold_id: str, message: OrderMessage) -> str:
        line = self.channels.order_line(channel_id, message.order_id, sku_id)
        if line is None:
            if self.channels.open_cancelled(
                channel_id, message.order_id, sku_id, message.quantity, message.msg_id, self.clock()
            ):
                return "cancelled:before-created"
            line = self.channels.order_line(channel_id, message.order_id, sku_id)
            if line is None:  # cannot be: open_cancelled was refused because the line exists (narrows the type)
                return "unknown-order"
        # A paid or refused message may move the line between the read and the write: read it
        # again, so that its units leave `received` once (created, paid or refused, cancelled).
        for _ in range(LINE_MOVES):
            status = str(line["status"])
            quantity = int(line["quantity"])
            if status == "cancelled" or self.channels.move_order(
                channel_id, message.order_id, sku_id, status, "cancelled", counts={"received": -quantity}
            ):
                break
            line = self.channels.order_line(channel_id, message.order_id, sku_id) or line
        else:
            # Unreachable by the statuses' order; if it happens, the push is retried, not dropped.
            raise Conflict("the order line kept changing; retry", {"order_id": message.order_id})
        return self._cancel_hold(hold_id, channel_id)

    @staticmethod
    def _hold_request(channel_id: str, sku_id: str, message: OrderMessage) -> HoldRequest:
        """The hold a created message asks for. An order LiveStock cannot take as asked (0 units, more
        than one order may take, an order id no key holds) is refused like a sold-out one: the
        platform accepted it, so it is a platform-side oversell, recorded and acknowledged."""
        try:
            return HoldRequest(channel=channel_id, order_id=message.order_id, sku_id=sku_id, quantity=message.quantity)
        except ValidationError as invalid:
            fields = sorted({".".join(str(part) for part in error["loc"]) for error in invalid.errors()})
            raise UnacceptableOrder(
                f"order {message.order_id!r} is not one LiveStock can hold", {"fields": fields}
            ) from None

    def _cancelled(self, channel_id: str, order_id: str, sku_id: str) -> bool:
        line = self.channels.order_line(channel_id, order_id, sku_id)
        return line is not None and line["status"] == "cancelled"

    def _cancel_hold(self, hold_id: str, channel_id: str) -> str:
        try:
            self.holds.cancel(hold_id, keys.channel_actor(channel_id))
        except (HoldNotFound, InvalidState):
            return "cancelled:no-hold"
        return "cancelled"
