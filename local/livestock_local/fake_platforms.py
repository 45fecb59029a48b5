"""Fake platforms for the local stack and the tests: one HTTP server per platform, speaking that
platform's stock API (docs/platforms.md), checking its signature, rate-limiting with its documented
error, and keeping its own displayed stock counter the way the real one does: a buyer's order is
accepted only while the displayed stock covers it; the platform decrements itself and then pushes
the signed order message to LiveStock. Each can be taken down, slowed, or made to fail.

Idempotency as the real APIs give it: Douyin dedupes incremental updates by `idempotent_id`; the
generic webhook receiver dedupes by op id; Kuaishou, Taobao delta and WeChat add/reduce apply every
call they receive (the caller must not send one twice: the applied-twice count is measured here by
the op ids the sync sends in its tracing header, which the platform itself ignores).
"""

import base64
import hashlib
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import requests

from livestock.platforms import signing
from livestock.platforms.adapters import (
    DOUYIN_OK,
    DOUYIN_RATE_LIMITED,
    KUAISHOU_OK,
    KUAISHOU_RATE_LIMITED,
    OP_HEADER,
    TAOBAO_RATE_LIMITED,
    WECHAT_RATE_LIMITED,
    PlatformCredentials,
)
from livestock_local.http_server import HttpServer

# The header the adapters add so the fakes can count duplicates; real platforms ignore it.
TRACE_HEADER = OP_HEADER


def fake_credentials(platform: str) -> PlatformCredentials:
    """Deterministic test credentials for a fake platform (never real ones)."""
    seed = hashlib.sha256(f"livestock-fake-{platform}".encode()).digest()
    return PlatformCredentials(
        app_key=f"{platform}-app-key",
        app_secret=seed.hex()[:32],
        access_token=f"{platform}-access-token",
        session=f"{platform}-session",
        message_secret=base64.b64encode(seed[:16]).decode(),
        token=f"{platform}token",
        encoding_aes_key=base64.b64encode(seed).decode().rstrip("="),
        app_id=f"wx{seed.hex()[:16]}",
        secret=seed.hex(),
    )


def max_in_window(times: list[float], window_s: float) -> int:
    """The most calls any window of this length saw (what a per-second quota limits)."""
    best, start = 0, 0
    ordered = sorted(times)
    for end, at in enumerate(ordered):
        while ordered[start] < at - window_s:
            start += 1
        best = max(best, end - start + 1)
    return best


class TokenBucket:
    def __init__(self, qps: float, burst: float | None = None) -> None:
        self.rate = qps
        self.capacity = burst if burst is not None else max(qps, 1.0)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


@dataclass
class Order:
    order_id: str
    product_id: str
    sku_id: str
    quantity: int
    accepted_at: float
    pushed: bool = False
    push_status: int | None = None


@dataclass
class Stats:
    calls: int = 0
    applied: int = 0
    rate_limited: int = 0
    bad_signature: int = 0
    failed_on_purpose: int = 0
    duplicates_applied: int = 0
    orders_accepted: int = 0
    orders_turned_away: int = 0
    units_accepted: int = 0


@dataclass
class FakePlatform:
    """One platform's shop: its displayed stock per (product, sku), its API and its pushes."""

    platform: str
    push_url: str = ""
    qps: float = 50.0
    credentials: PlatformCredentials = field(default_factory=PlatformCredentials)
    stock: dict[tuple[str, str], int] = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    orders: list[Order] = field(default_factory=list)
    # (monotonic time, product, sku, value) after every change of the displayed stock.
    history: list[tuple[float, str, str, int]] = field(default_factory=list)
    down: bool = False
    delay_s: float = 0.0
    fail_next: int = 0
    # The next calls answered with the platform's rate-limit error whatever the bucket holds.
    limit_next: int = 0
    endpoint: str = ""
    # LiveStock's base URL; with a channel named at listing, pushes go to /platforms/<channel>/orders.
    push_base: str = ""
    routes: dict[tuple[str, str], str] = field(default_factory=dict)
    call_times: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.credentials.app_key and not self.credentials.secret:
            self.credentials = fake_credentials(self.platform)
        self.bucket = TokenBucket(self.qps)
        self._seen_ops: Counter[str] = Counter()
        self._idempotent_ids: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._session = requests.Session()
        self.pushes: Counter[str] = Counter()
        self.push_answers: dict[str, int] = defaultdict(int)

    # --- the merchant's side: listing ----------------------------------------------------------

    def list_sku(self, product_id: str, sku_id: str, stock: int = 0, channel: str | None = None) -> None:
        """Lists a SKU; its order messages go to the channel's route when one is named."""
        with self.lock:
            self.stock[(product_id, sku_id)] = stock
            if channel:
                self.routes[(product_id, sku_id)] = channel
            self.history.append((time.monotonic(), product_id, sku_id, stock))

    def displayed(self, product_id: str, sku_id: str) -> int:
        with self.lock:
            return self.stock.get((product_id, sku_id), 0)

    # --- the buyers' side ----------------------------------------------------------------------

    def place_order(self, product_id: str, sku_id: str, quantity: int, buyer_id: str = "") -> Order | None:
        """A buyer orders on the platform: accepted only if the displayed stock covers it; the
        platform decrements itself, then pushes the order message. None: turned away."""
        with self.lock:
            key = (product_id, sku_id)
            if self.stock.get(key, 0) < quantity:
                self.stats.orders_turned_away += 1
                return None
            self.stock[key] -= quantity
            self.history.append((time.monotonic(), product_id, sku_id, self.stock[key]))
            order = Order(f"{self.platform[:2]}{uuid.uuid4().hex[:16]}", product_id, sku_id, quantity, time.time())
            self.orders.append(order)
            self.stats.orders_accepted += 1
            self.stats.units_accepted += quantity
        if self.push_url_of(order):
            order.push_status = self.push(order, "created")
            order.pushed = True
        return order

    def cancel_order(self, order: Order) -> None:
        """The merchant cancels an order on the platform (LiveStock refused it): the platform puts
        the units back on its displayed stock, as real platforms do for a cancelled unpaid order."""
        with self.lock:
            key = (order.product_id, order.sku_id)
            self.stock[key] = self.stock.get(key, 0) + order.quantity
            self.history.append((time.monotonic(), order.product_id, order.sku_id, self.stock[key]))
        if self.push_url_of(order):
            self.push(order, "cancelled")

    # --- pushes: each platform's message shape and signature -------------------------------------

    def push_url_of(self, order: Order) -> str:
        channel = self.routes.get((order.product_id, order.sku_id))
        return f"{self.push_base}/platforms/{channel}/orders" if channel and self.push_base else self.push_url

    def push_message(self, order: Order, kind: str, msg_id: str | None = None) -> tuple[str, dict[str, str], bytes]:
        """(url, headers, body) of one signed order message, as this platform sends it."""
        msg_id = msg_id or uuid.uuid4().hex
        push_url = self.push_url_of(order)
        creds = self.credentials
        line = {"order_id": order.order_id, "product_id": order.product_id, "sku_id": order.sku_id}
        if self.platform == "douyin":
            tag = {"created": "100", "paid": "101", "cancelled": "106"}[kind]
            data = {
                "p_id": order.order_id,
                "sku_id": order.sku_id,
                "product_id": order.product_id,
                "num": order.quantity,
                "create_time": int(order.accepted_at),
            }
            body = json.dumps([{"tag": tag, "msg_id": msg_id, "data": json.dumps(data)}]).encode()
            headers = {
                "Content-Type": "application/json",
                "app-id": creds.app_key,
                "event-sign": signing.douyin_event_sign(creds.app_key, body, creds.app_secret),
            }
            return push_url, headers, body
        if self.platform == "kuaishou":
            event = {
                "created": "kwaishop_order_addOrder",
                "paid": "kwaishop_order_paySuccess",
                "cancelled": "kwaishop_order_orderFail",
            }[kind]
            info = {"oid": order.order_id, "skuId": order.sku_id, "itemId": order.product_id, "num": order.quantity}
            message: dict[str, Any] = {
                "eventId": uuid.uuid4().hex,
                "msgId": msg_id,
                "event": event,
                "info": json.dumps(info),
            }
            # The ciphertext as a JSON string: the API takes JSON bodies only (docs/platforms.md).
            body = json.dumps(signing.kuaishou_encrypt(json.dumps(message).encode(), creds.message_secret)).encode()
            return push_url, {"Content-Type": "application/json", "appKey": creds.app_key}, body
        if self.platform == "taobao":
            topic = {
                "created": "taobao_trade_TradeCreate",
                "paid": "taobao_trade_TradeBuyerPay",
                "cancelled": "taobao_trade_TradeClose",
            }[kind]
            content = json.dumps(
                {"tid": order.order_id, "num_iid": order.product_id, "sku_id": order.sku_id, "num": order.quantity}
            )
            fields = {
                "topic": topic,
                "id": msg_id,
                "content": content,
                "app_key": creds.app_key,
                "timestamp": str(int(time.time() * 1000)),
            }
            fields["sign"] = signing.taobao_sign(fields, creds.app_secret)
            return push_url, {"Content-Type": "application/json"}, json.dumps(fields).encode()
        if self.platform == "wechat":
            event = {
                "created": "channels_ec_order_new",
                "paid": "channels_ec_order_pay",
                "cancelled": "channels_ec_order_cancel",
            }[kind]
            message = {
                "ToUserName": creds.app_id,
                "Event": event,
                "MsgId": msg_id,
                "CreateTime": int(time.time()),
                "order_info": {
                    "order_id": order.order_id,
                    "product_id": order.product_id,
                    "sku_id": order.sku_id,
                    "sku_cnt": order.quantity,
                },
            }
            encrypt = signing.wechat_encrypt(json.dumps(message).encode(), creds.encoding_aes_key, creds.app_id)
            timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
            signature = signing.wechat_msg_signature(creds.token, timestamp, nonce, encrypt)
            url = f"{push_url}?timestamp={timestamp}&nonce={nonce}&encrypt_type=aes&msg_signature={signature}"
            return url, {"Content-Type": "application/json"}, json.dumps({"Encrypt": encrypt}).encode()
        body = json.dumps({"type": f"order.{kind}", "msg_id": msg_id, **line, "quantity": order.quantity}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-LiveStock-Signature": signing.webhook_signature(creds.secret, int(time.time()), body),
            "X-LiveStock-Event-Id": msg_id,
        }
        return push_url, headers, body

    def push(self, order: Order, kind: str, msg_id: str | None = None) -> int:
        url, headers, body = self.push_message(order, kind, msg_id)
        for attempt in range(5):
            try:
                status = self._session.post(url, data=body, headers=headers, timeout=30).status_code
            except requests.RequestException:
                status = 0
            if status and status < 500:
                break
            time.sleep(0.2 * 2**attempt)
        self.pushes[kind] += 1
        self.push_answers[str(status)] += 1
        return status

    # --- the stock API ---------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        platform = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                return

            def do_GET(self) -> None:
                self.do_POST()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path.startswith("/_fake/"):
                    status, answer = platform.control(self.path.removeprefix("/_fake/"), body)
                else:
                    status, answer = platform.handle(self.path, dict(self.headers.items()), body)
                raw = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = HttpServer((host, port), Handler)
        self._server.serve_in_thread(f"fake-{self.platform}")
        self.endpoint = f"http://{host}:{self._server.server_address[1]}"
        return self.endpoint

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def control(self, action: str, body: bytes) -> tuple[int, Any]:
        """The test harness's side (buyers, the merchant, faults), for a demo in another process."""
        request = json.loads(body or b"{}")
        if action == "order":
            order = self.place_order(str(request["product_id"]), str(request["sku_id"]), int(request["quantity"]))
            return 200, {"accepted": order is not None, "order_id": order.order_id if order else None}
        if action == "list":
            self.list_sku(
                str(request["product_id"]),
                str(request["sku_id"]),
                int(request.get("stock", 0)),
                request.get("channel"),
            )
            return 200, {}
        if action == "faults":
            for name in ("down", "delay_s", "fail_next", "limit_next"):
                if name in request:
                    setattr(self, name, request[name])
            if "qps" in request:
                self.bucket = TokenBucket(float(request["qps"]))
            return 200, {}
        if action == "stats":
            with self.lock:
                return 200, {
                    "stats": self.stats.__dict__,
                    "displayed": {f"{p}/{s}": v for (p, s), v in self.stock.items()},
                    "pushes": dict(self.pushes),
                    "max_calls_in_1s": max_in_window(self.call_times, 1.0),
                    "history": {
                        f"{p}/{s}": [v for _, hp, hs, v in self.history if (hp, hs) == (p, s)] for (p, s) in self.stock
                    },
                    "push_answers": dict(self.push_answers),
                }
        return 404, {"message": f"no control {action!r}"}

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.down:
            return 503, {"message": "service unavailable"}
        with self.lock:
            self.stats.calls += 1
            self.call_times.append(time.monotonic())
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        handler = {
            "douyin": self._douyin,
            "kuaishou": self._kuaishou,
            "taobao": self._taobao,
            "wechat": self._wechat,
            "webhook": self._webhook,
        }[self.platform]
        return handler(parts.path, query, headers, body)

    def _gate(self) -> str | None:
        """'limited' when the app's quota is spent, 'fail' when told to fail; None to go on."""
        with self.lock:
            forced = self.limit_next > 0
            self.limit_next -= 1 if forced else 0
        if forced or not self.bucket.take():
            with self.lock:
                self.stats.rate_limited += 1
            return "limited"
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.stats.failed_on_purpose += 1
                return "fail"
        return None

    def _apply(self, product_id: str, sku_id: str, op: str, delta: int | None = None, value: int | None = None) -> int:
        """Applies one change atomically on the displayed counter; returns the new value, or -1 if a
        reduce asked for more than is displayed (the platforms refuse going negative)."""
        with self.lock:
            key = (product_id, sku_id)
            if key not in self.stock:
                return -2
            new = value if value is not None else self.stock[key] + (delta or 0)
            if new < 0:
                return -1
            self.stock[key] = new
            self.history.append((time.monotonic(), product_id, sku_id, new))
            self.stats.applied += 1
            if op and value is None:  # a set applied twice is the same set; a delta is not
                self._seen_ops[op] += 1
                if self._seen_ops[op] > 1:
                    self.stats.duplicates_applied += 1
            return new

    def _bad_signature(self) -> None:
        with self.lock:
            self.stats.bad_signature += 1

    # Douyin: query carries the system parameters and the sign; the body is param_json.
    def _douyin(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        creds = self.credentials
        param_json = body.decode()
        expected = signing.douyin_sign(
            creds.app_key, creds.app_secret, query.get("method", ""), param_json, query.get("timestamp", "")
        )
        if query.get("app_key") != creds.app_key or query.get("sign") != expected:
            self._bad_signature()
            return 200, {
                "code": 40004,
                "msg": "签名校验失败",
                "sub_code": "isv.sign-invalid",
                "sub_msg": "sign",
                "log_id": "",
            }
        if query.get("access_token") != creds.access_token:
            return 200, {"code": 30001, "msg": "access_token无效", "sub_code": "isv.access-token-no-exist"}
        gate = self._gate()
        if gate == "limited":
            return 200, {
                "code": DOUYIN_RATE_LIMITED,
                "msg": "服务繁忙",
                "sub_code": "isv.frequency-limited",
                "sub_msg": "访问频率超限",
                "log_id": uuid.uuid4().hex,
            }
        if gate == "fail":
            return 200, {"code": 50000, "msg": "服务内部错误", "sub_code": "isp.service-error", "log_id": ""}
        params = json.loads(param_json)
        if path == "/sku/detail":
            for (_, sku), value in self.stock.items():
                if sku == str(params.get("sku_id")):
                    return 200, {"code": DOUYIN_OK, "msg": "success", "data": {"stock_num": value}}
            return 200, {"code": 40004, "msg": "sku不存在", "sub_code": "isv.sku-not-found"}
        if path != "/sku/syncStock":
            return 404, {"code": 40001, "msg": "unknown method"}
        product, sku, num = str(params.get("product_id")), str(params.get("sku_id")), params.get("stock_num")
        if not isinstance(num, int) or num < 0:
            return 200, {"code": 40004, "msg": "stock_num不合法", "sub_code": "isv.parameter-invalid"}
        op = headers.get(TRACE_HEADER, "")
        if params.get("incremental"):
            idem = params.get("idempotent_id")
            if not idem:
                return 200, {"code": 40004, "msg": "idempotent_id必填", "sub_code": "isv.parameter-invalid"}
            with self.lock:
                if idem in self._idempotent_ids:
                    return 200, {"code": DOUYIN_OK, "msg": "success", "log_id": "dup"}
                self._idempotent_ids.add(idem)
            result = self._apply(product, sku, op, delta=num)
        else:
            result = self._apply(product, sku, op, value=num)
        if result == -2:
            return 200, {"code": 40004, "msg": "sku不存在", "sub_code": "isv.sku-not-found"}
        return 200, {"code": DOUYIN_OK, "msg": "success", "sub_code": "", "sub_msg": "", "log_id": uuid.uuid4().hex}

    # Kuaishou: form body with the system parameters, param (JSON) and sign.
    def _kuaishou(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        sign = form.pop("sign", "")
        if form.get("appkey") != self.credentials.app_key or sign != signing.kuaishou_sign(
            form, self.credentials.app_secret
        ):
            self._bad_signature()
            return 200, {"result": 28, "error_msg": "签名验证失败"}
        gate = self._gate()
        if gate == "limited":
            return 200, {"result": KUAISHOU_RATE_LIMITED, "error_msg": "调用频率超限"}
        if gate == "fail":
            return 500, {"result": 0, "error_msg": "系统错误"}
        param = json.loads(form.get("param", "{}"))
        if path == "/open/item/get":
            skus = [
                {"kwaiSkuId": int(sku), "skuStock": value}
                for (product, sku), value in self.stock.items()
                if product == str(param.get("kwaiItemId"))
            ]
            return 200, {"result": KUAISHOU_OK, "data": {"skuList": skus}}
        if path != "/open/item/sku/stock/update":
            return 404, {"result": 24, "error_msg": "unknown method"}
        change, kind = param.get("skuChangeStock"), param.get("changeType")
        if not isinstance(change, int) or change <= 0 or kind not in (1, 2):
            return 200, {"result": 22, "error_msg": "参数错误"}
        delta = change if kind == 1 else -change
        result = self._apply(str(param["kwaiItemId"]), str(param["skuId"]), headers.get(TRACE_HEADER, ""), delta)
        if result == -1:
            return 200, {"result": 22, "error_msg": "库存不足"}
        if result == -2:
            return 200, {"result": 22, "error_msg": "sku不存在"}
        return 200, {"result": KUAISHOU_OK}

    # Taobao TOP: form body, md5 sign, error_response on failure.
    def _taobao(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        if form.get("app_key") != self.credentials.app_key or form.get("sign") != signing.taobao_sign(
            form, self.credentials.app_secret
        ):
            self._bad_signature()
            return 200, {"error_response": {"code": 25, "msg": "Invalid signature"}}
        gate = self._gate()
        if gate == "limited":
            return 200, {
                "error_response": {
                    "code": int(TAOBAO_RATE_LIMITED),
                    "msg": "App Call Limited",
                    "sub_code": "accesscontrol.limited-by-app-access-count",
                }
            }
        if gate == "fail":
            return 200, {
                "error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isp.top-remote-error"}
            }
        method = form.get("method")
        product, sku = form.get("num_iid", ""), form.get("sku_id", "")
        if method == "taobao.item.sku.get":
            if (product, sku) not in self.stock:
                return 200, {
                    "error_response": {"code": 15, "msg": "Remote service error", "sub_code": "isv.sku-not-exist"}
                }
            return 200, {"item_sku_get_response": {"sku": {"sku_id": sku, "quantity": self.stock[(product, sku)]}}}
        if method != "taobao.item.quantity.update":
            return 200, {"error_response": {"code": 22, "msg": "Invalid method"}}
        try:
            quantity = int(form["quantity"])
        except (KeyError, ValueError):
            return 200, {"error_response": {"code": 40, "msg": "Missing required arguments:quantity"}}
        kind = form.get("type", "1")
        result = (
            self._apply(product, sku, headers.get(TRACE_HEADER, ""), value=quantity)
            if kind == "1"
            else self._apply(product, sku, headers.get(TRACE_HEADER, ""), delta=quantity)
        )
        if result < 0:
            return 200, {
                "error_response": {
                    "code": 15,
                    "msg": "Remote service error",
                    "sub_code": "isv.item-quantity-item-update-service-error",
                }
            }
        return 200, {"item_quantity_update_response": {"item": {"num_iid": product, "num": result}}}

    # WeChat Channels: access_token in the query, JSON body, {errcode, errmsg}.
    def _wechat(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if query.get("access_token") != self.credentials.access_token:
            self._bad_signature()
            return 200, {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"}
        gate = self._gate()
        if gate == "limited":
            return 200, {
                "errcode": WECHAT_RATE_LIMITED,
                "errmsg": "api minute-quota reach limit mustslower retry next time",
            }
        if gate == "fail":
            return 200, {"errcode": -1, "errmsg": "system error"}
        request = json.loads(body or b"{}")
        product, sku = str(request.get("product_id")), str(request.get("sku_id"))
        if path == "/channels/ec/product/stock/get":
            if (product, sku) not in self.stock:
                return 200, {"errcode": 10020050, "errmsg": "sku not found"}
            return 200, {"errcode": 0, "data": {"spu_stock": {"total_stock_num": self.stock[(product, sku)]}}}
        if path != "/channels/ec/product/stock/update":
            return 404, {"errcode": 40066, "errmsg": "invalid url"}
        diff, num = request.get("diff_type"), request.get("num")
        if diff not in (1, 2, 3) or not isinstance(num, int) or num < 0:
            return 200, {"errcode": 47001, "errmsg": "data format error"}
        op = headers.get(TRACE_HEADER, "")
        result = (
            self._apply(product, sku, op, value=num)
            if diff == 3
            else self._apply(product, sku, op, delta=num if diff == 1 else -num)
        )
        if result < 0:
            return 200, {"errcode": 10020060, "errmsg": "stock not enough" if result == -1 else "sku not found"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    # The generic webhook receiver: the alert webhooks' signature; dedupes by op id.
    def _webhook(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        lowered = {k.lower(): v for k, v in headers.items()}
        try:
            signing.verify_webhook(self.credentials.secret, lowered.get("x-livestock-signature", ""), body, time.time())
        except signing.PushRejected:
            self._bad_signature()
            return 401, {"message": "bad signature"}
        if not self.bucket.take():
            with self.lock:
                self.stats.rate_limited += 1
            return 429, {"message": "slow down"}
        request = json.loads(body)
        product, sku = str(request.get("product_id")), str(request.get("sku_id"))
        if path == "/stock/get":
            return 200, {"stock": self.stock.get((product, sku), 0)}
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                self.stats.failed_on_purpose += 1
                return 503, {"message": "try later"}
            op = str(request.get("op_id", ""))
            if op in self._idempotent_ids:
                return 200, {"duplicate": True}
            self._idempotent_ids.add(op)
        result = self._apply(product, sku, op, delta=int(request.get("delta", 0)))
        if result < 0:
            return 409, {"message": "would go below zero" if result == -1 else "unknown sku"}
        return 200, {"stock": result}


PLATFORMS = ("douyin", "kuaishou", "taobao", "wechat", "webhook")
# Per-app quotas the fakes enforce by default (calls per second): set per app in each console.
DEFAULT_QPS = {"douyin": 20.0, "kuaishou": 20.0, "taobao": 10.0, "wechat": 20.0, "webhook": 50.0}


@dataclass
class FakePlatforms:
    """All five, started together (the local stack does this when LIVESTOCK_FAKE_PLATFORMS=1)."""

    push_base: str = ""
    qps: dict[str, float] = field(default_factory=dict)
    platforms: dict[str, FakePlatform] = field(default_factory=dict)
    endpoints: dict[str, str] = field(default_factory=dict)

    def start(self, host: str = "127.0.0.1") -> "FakePlatforms":
        for name in PLATFORMS:
            push = f"{self.push_base}/platforms/{name}/orders" if self.push_base else ""
            fake = FakePlatform(
                name, push_url=push, qps=self.qps.get(name, DEFAULT_QPS[name]), push_base=self.push_base
            )
            self.endpoints[name] = fake.serve(host)
            self.platforms[name] = fake
        return self

    def store_credentials(self) -> dict[str, str]:
        """Each fake's credentials as a Secrets Manager secret of the local moto server (the
        functions read them as on AWS); returns each platform's credentials reference."""
        client = boto3.client("secretsmanager", region_name="us-east-1")
        refs = {}
        for name, fake in self.platforms.items():
            secret = f"livestock/fake/{name}"
            try:
                client.create_secret(Name=secret, SecretString=fake.credentials.model_dump_json())
            except client.exceptions.ResourceExistsException:
                client.put_secret_value(SecretId=secret, SecretString=fake.credentials.model_dump_json())
            refs[name] = f"secretsmanager:{secret}"
        return refs

    def stop(self) -> None:
        for fake in self.platforms.values():
            fake.stop()
