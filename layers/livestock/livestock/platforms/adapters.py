"""One adapter per platform, each speaking that platform's documented stock-update call.

An adapter moves the platform's displayed stock by a delta (the sync service computes it, see
logic/platform_sync.py) and says what happened, in one vocabulary:

- applied: the platform took it;
- rate_limited: the platform's own throttle refused it (its documented error): back off;
- failed: a definite refusal or server error, nothing applied: retry later;
- unknown: no answer (timeout, reset): it may or may not have been applied. An idempotent
  adapter resends the same call (same idempotency key); the others read the stock back first.
- rejected: the request itself is wrong (bad credentials, unknown SKU): retrying will not help.

Douyin's incremental mode only adds (stock_num >= 0); a decrease is a full set of the value the
platform should show (`expected_after`), which the platform applies atomically as one write.
"""

import http.client
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol
from urllib.parse import urlencode, urlsplit

from pydantic import BaseModel, ConfigDict

from livestock.platforms import signing

OutcomeStatus = Literal["applied", "rate_limited", "failed", "unknown", "rejected"]


class PlatformCredentials(BaseModel):
    """What a channel's secret holds (Secrets Manager / SSM SecureString, JSON). Which fields a
    platform uses: douyin app_key/app_secret/access_token; kuaishou app_key/app_secret (signSecret)/
    access_token/message_secret; taobao app_key/app_secret/session; wechat access_token/token/
    encoding_aes_key/app_id; webhook secret."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    app_key: str = ""
    app_secret: str = ""
    access_token: str = ""
    session: str = ""
    message_secret: str = ""
    token: str = ""
    encoding_aes_key: str = ""
    app_id: str = ""
    secret: str = ""

    def __repr__(self) -> str:
        return "PlatformCredentials(<hidden>)"

    __str__ = __repr__


class PlatformIds(BaseModel):
    """A SKU's ids on one platform (the channel's sku_map entry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    product_id: str
    sku_id: str


@dataclass(frozen=True)
class Outcome:
    status: OutcomeStatus
    code: str = ""
    message: str = ""


OP_HEADER = "X-LiveStock-Op"

Transport = Callable[[str, str, bytes, dict[str, str], float], tuple[int, bytes]]


def http_transport(method: str, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> tuple[int, bytes]:
    parts = urlsplit(url)
    connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_type(parts.netloc, timeout=timeout_s)
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Adapter(Protocol):
    @property
    def platform(self) -> str: ...

    @property
    def idempotent(self) -> bool:
        """Whether resending the same call after an unknown outcome is safe (the platform dedupes it)."""
        ...

    @property
    def deltas_down(self) -> bool:
        """Whether a decrease is a delta too (False: Douyin decreases by a full set)."""
        ...

    def change(self, ids: PlatformIds, delta: int, op_id: str, expected_after: int) -> Outcome: ...

    def read(self, ids: PlatformIds) -> int: ...


class PlatformReadFailed(RuntimeError):
    pass


JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
FORM_UTF8 = {"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"}


@dataclass
class _Base:
    endpoint: str
    credentials: PlatformCredentials
    transport: Transport = http_transport
    timeout_s: float = 2.0
    clock: Callable[[], float] = time.time
    # The Adapter protocol's facts, named in each subclass's header.
    platform: ClassVar[str] = ""
    idempotent: ClassVar[bool] = False
    deltas_down: ClassVar[bool] = True

    def __init_subclass__(
        cls, platform: str | None = None, idempotent: bool | None = None, deltas_down: bool | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        cls.platform = cls.platform if platform is None else platform
        cls.idempotent = cls.idempotent if idempotent is None else idempotent
        cls.deltas_down = cls.deltas_down if deltas_down is None else deltas_down

    def _post(self, url: str, body: bytes, headers: dict[str, str], op_id: str = "") -> tuple[int, Any] | None:
        """(status, parsed JSON answer); None when no answer came back. The op id travels in a
        header of ours (platforms ignore unknown headers) so the fakes can count duplicates."""
        if op_id:
            headers = {**headers, OP_HEADER: op_id}
        try:
            status, raw = self.transport("POST", url, body, headers, self.timeout_s)
        except (OSError, http.client.HTTPException):
            return None
        try:
            return status, json.loads(raw or b"{}")
        except ValueError:
            return status, {}


# --- Douyin 抖店: POST /sku/syncStock --------------------------------------------------------------

DOUYIN_OK = 10000
DOUYIN_RATE_LIMITED = 50002  # with sub_code isv.frequency-limited (the fake's; see docs/platforms.md)


@dataclass
class DouyinAdapter(_Base, platform="douyin", idempotent=True, deltas_down=False):
    def _request(self, path: str, method: str, params: dict[str, Any], op_id: str = "") -> tuple[int, Any] | None:
        param_json = signing.douyin_param_json(params)
        timestamp = str(int(self.clock()))
        creds = self.credentials
        query = {
            "app_key": creds.app_key,
            "method": method,
            "v": "2",
            "timestamp": timestamp,
            "access_token": creds.access_token,
            "sign_method": "hmac-sha256",
            "sign": signing.douyin_sign(creds.app_key, creds.app_secret, method, param_json, timestamp),
        }
        return self._post(f"{self.endpoint}{path}?{urlencode(query)}", param_json.encode(), JSON, op_id)

    def change(self, ids: PlatformIds, delta: int, op_id: str, expected_after: int) -> Outcome:
        params: dict[str, Any] = {"product_id": ids.product_id, "sku_id": ids.sku_id}
        if delta > 0:
            params |= {"stock_num": delta, "incremental": True, "idempotent_id": op_id}
        else:
            params |= {"stock_num": max(expected_after, 0), "incremental": False}
        answer = self._request("/sku/syncStock", "sku.syncStock", params, op_id)
        if answer is None:
            return Outcome("unknown", "timeout")
        status, body = answer
        code = int(body.get("code", 0) or 0) if isinstance(body, dict) else 0
        text = f"{code} {body.get('sub_code', '')}".strip() if isinstance(body, dict) else str(status)
        if code == DOUYIN_OK:
            return Outcome("applied", str(code))
        if code == DOUYIN_RATE_LIMITED:
            return Outcome("rate_limited", text, str(body.get("sub_msg", "")))
        if status >= 500 or code in (0, 20000, 50000):
            return Outcome("failed", text or str(status))
        return Outcome("rejected", text, str(body.get("sub_msg", "")))

    def read(self, ids: PlatformIds) -> int:
        answer = self._request("/sku/detail", "sku.detail", {"sku_id": ids.sku_id})
        if answer is None or answer[1].get("code") != DOUYIN_OK:
            raise PlatformReadFailed(f"douyin sku.detail: {answer}")
        return int(answer[1]["data"]["stock_num"])


# --- Kuaishou 快手电商: open.item.sku.stock.update ----------------------------------------------------

KUAISHOU_OK = 1
KUAISHOU_RATE_LIMITED = 429001  # the fake's "call frequency exceeded" result code (docs/platforms.md)


@dataclass
class KuaishouAdapter(_Base, platform="kuaishou"):
    def _request(self, method: str, param: dict[str, Any], op_id: str = "") -> tuple[int, Any] | None:
        creds = self.credentials
        system = {
            "appkey": creds.app_key,
            "version": "1",
            "method": method,
            "timestamp": str(int(self.clock() * 1000)),
            "access_token": creds.access_token,
            "signMethod": "MD5",
            "param": json.dumps(param, separators=(",", ":"), sort_keys=True),
        }
        system["sign"] = signing.kuaishou_sign(system, creds.app_secret)
        return self._post(f"{self.endpoint}/{method.replace('.', '/')}", urlencode(system).encode(), FORM, op_id)

    def change(self, ids: PlatformIds, delta: int, op_id: str, expected_after: int) -> Outcome:
        param = {
            "kwaiItemId": int(ids.product_id),
            "skuId": int(ids.sku_id),
            "skuChangeStock": abs(delta),
            "changeType": 1 if delta > 0 else 2,
        }
        answer = self._request("open.item.sku.stock.update", param, op_id)
        if answer is None:
            return Outcome("unknown", "timeout")
        status, body = answer
        result = int(body.get("result", 0) or 0) if isinstance(body, dict) else 0
        if result == KUAISHOU_OK:
            return Outcome("applied", "1")
        if result == KUAISHOU_RATE_LIMITED:
            return Outcome("rate_limited", str(result), str(body.get("error_msg", "")))
        if status >= 500 or result == 0:
            return Outcome("failed", str(result or status))
        return Outcome("rejected", str(result), str(body.get("error_msg", "")))

    def read(self, ids: PlatformIds) -> int:
        answer = self._request("open.item.get", {"kwaiItemId": int(ids.product_id)})
        if answer is None or answer[1].get("result") != KUAISHOU_OK:
            raise PlatformReadFailed(f"kuaishou open.item.get: {answer}")
        for sku in answer[1]["data"]["skuList"]:
            if str(sku["kwaiSkuId"]) == ids.sku_id:
                return int(sku["skuStock"])
        raise PlatformReadFailed(f"kuaishou: no sku {ids.sku_id}")


# --- Taobao / Tmall TOP: taobao.item.quantity.update (type 2 = delta) ------------------------------

TAOBAO_RATE_LIMITED = "7"  # TOP's "App Call Limited"


@dataclass
class TaobaoAdapter(_Base, platform="taobao"):
    def _request(self, method: str, business: dict[str, str], op_id: str = "") -> tuple[int, Any] | None:
        creds = self.credentials
        params = {
            "method": method,
            "app_key": creds.app_key,
            "session": creds.session,
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.clock() + 8 * 3600)),
            "format": "json",
            "v": "2.0",
            "sign_method": "md5",
            **business,
        }
        params["sign"] = signing.taobao_sign(params, creds.app_secret)
        return self._post(
            f"{self.endpoint}/router/rest",
            urlencode(params).encode(),
            FORM_UTF8,
            op_id,
        )

    def change(self, ids: PlatformIds, delta: int, op_id: str, expected_after: int) -> Outcome:
        answer = self._request(
            "taobao.item.quantity.update",
            {"num_iid": ids.product_id, "sku_id": ids.sku_id, "quantity": str(delta), "type": "2"},
            op_id,
        )
        if answer is None:
            return Outcome("unknown", "timeout")
        status, body = answer
        if isinstance(body, dict) and "item_quantity_update_response" in body:
            return Outcome("applied", "0")
        error = body.get("error_response", {}) if isinstance(body, dict) else {}
        code = str(error.get("code", status))
        if code == TAOBAO_RATE_LIMITED:
            return Outcome("rate_limited", code, str(error.get("sub_msg", error.get("msg", ""))))
        if status >= 500 or code.startswith("isp.") or str(error.get("sub_code", "")).startswith("isp."):
            return Outcome("failed", code)
        return Outcome("rejected", f"{code} {error.get('sub_code', '')}".strip(), str(error.get("msg", "")))

    def read(self, ids: PlatformIds) -> int:
        answer = self._request(
            "taobao.item.sku.get", {"num_iid": ids.product_id, "sku_id": ids.sku_id, "fields": "quantity"}
        )
        if answer is None or "item_sku_get_response" not in answer[1]:
            raise PlatformReadFailed(f"taobao item.sku.get: {answer}")
        return int(answer[1]["item_sku_get_response"]["sku"]["quantity"])


# --- WeChat Channels 视频号小店: /channels/ec/product/stock/update ------------------------------------

WECHAT_RATE_LIMITED = 45011  # "api minute-quota reach limit, must slower, retry next time"
WECHAT_SYSTEM_BUSY = -1


@dataclass
class WechatAdapter(_Base, platform="wechat"):
    def _request(self, path: str, body: dict[str, Any], op_id: str = "") -> tuple[int, Any] | None:
        query = urlencode({"access_token": self.credentials.access_token})
        return self._post(f"{self.endpoint}{path}?{query}", json.dumps(body).encode(), JSON, op_id)

    def change(self, ids: PlatformIds, delta: int, op_id: str, expected_after: int) -> Outcome:
        # add / reduce only: the docs warn that set (3) misbehaves under concurrent orders.
        answer = self._request(
            "/channels/ec/product/stock/update",
            {"product_id": ids.product_id, "sku_id": ids.sku_id, "diff_type": 1 if delta > 0 else 2, "num": abs(delta)},
            op_id,
        )
        if answer is None:
            return Outcome("unknown", "timeout")
        status, body = answer
        errcode = int(body.get("errcode", -1)) if isinstance(body, dict) else -1
        if errcode == 0:
            return Outcome("applied", "0")
        if errcode == WECHAT_RATE_LIMITED:
            return Outcome("rate_limited", str(errcode), str(body.get("errmsg", "")))
        if status >= 500 or errcode == WECHAT_SYSTEM_BUSY:
            return Outcome("failed", str(errcode))
        return Outcome("rejected", str(errcode), str(body.get("errmsg", "")))

    def read(self, ids: PlatformIds) -> int:
        answer = self._request("/channels/ec/product/stock/get", {"product_id": ids.product_id, "sku_id": ids.sku_id})
        if answer is None or answer[1].get("errcode") != 0:
            raise PlatformReadFailed(f"wechat stock/get: {answer}")
        return int(answer[1]["data"]["spu_stock"]["total_stock_num"])


# --- the generic signed webhook ---------------------------------------------------------------------


@dataclass
class WebhookAdapter(_Base, platform="webhook", idempotent=True):
    """POSTs {sku ids, delta, op_id, expected_after} signed like the alert webhooks; the receiver
    dedupes by op_id (X-LiveStock-Event-Id), so a resend is safe. 429 is its rate limit."""

    def _signed(self, body: bytes, op_id: str) -> dict[str, str]:
        return {
            **JSON,
            "X-LiveStock-Signature": signing.webhook_signature(self.credentials.secret, int(self.clock()), body),
            "X-LiveStock-Event-Id": op_id,
        }

    def change(self, ids: PlatformIds, delta: int, op_id: str, expected_after: int) -> Outcome:
        body = json.dumps(
            {"product_id": ids.product_id, "sku_id": ids.sku_id, "delta": delta, "op_id": op_id},
            separators=(",", ":"),
        ).encode()
        answer = self._post(f"{self.endpoint}/stock", body, self._signed(body, op_id))
        if answer is None:
            return Outcome("unknown", "timeout")
        status, _ = answer
        if 200 <= status < 300:
            return Outcome("applied", str(status))
        if status == 429:
            return Outcome("rate_limited", "429")
        if status >= 500 or status == 408:
            return Outcome("failed", str(status))
        return Outcome("rejected", str(status))

    def read(self, ids: PlatformIds) -> int:
        body = json.dumps({"product_id": ids.product_id, "sku_id": ids.sku_id}).encode()
        answer = self._post(f"{self.endpoint}/stock/get", body, self._signed(body, "read"))
        if answer is None or answer[0] != 200:
            raise PlatformReadFailed(f"webhook read: {answer}")
        return int(answer[1]["stock"])


ADAPTERS: dict[str, type[DouyinAdapter | KuaishouAdapter | TaobaoAdapter | WechatAdapter | WebhookAdapter]] = {
    adapter.platform: adapter
    for adapter in (DouyinAdapter, KuaishouAdapter, TaobaoAdapter, WechatAdapter, WebhookAdapter)
}


def adapter_for(
    platform: str, endpoint: str, credentials: PlatformCredentials, transport: Transport = http_transport
) -> Adapter:
    return ADAPTERS[platform](endpoint=endpoint.rstrip("/"), credentials=credentials, transport=transport)
