"""Each platform's signature with fixed vectors, cross-checked against the community SDKs where
they can run offline (kwaixiaodian's MD5 signer, wechatpy's WeChatCrypto); a tampered request or
push fails its check."""

import base64
import hashlib
import hmac
import json
import struct

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from livestock.platforms import signing

DOUYIN_PARAMS = {
    "sku_id": "1768",
    "product_id": "3539",
    "stock_num": 5,
    "incremental": True,
    "idempotent_id": "op-1",
    "note": "库存",
}
KUAISHOU_PARAMS = {
    "appkey": "ks-app",
    "version": "1",
    "method": "open.item.sku.stock.update",
    "timestamp": "1700000000000",
    "access_token": "tok",
    "signMethod": "MD5",
    "param": '{"changeType":1,"kwaiItemId":1,"skuChangeStock":5,"skuId":2}',
}
TAOBAO_PARAMS = {
    "method": "taobao.item.quantity.update",
    "app_key": "12345678",
    "session": "sess",
    "timestamp": "2023-11-15 06:13:20",
    "format": "json",
    "v": "2.0",
    "sign_method": "md5",
    "num_iid": "100",
    "sku_id": "200",
    "quantity": "-3",
    "type": "2",
}


def test_douyin_request_sign_fixed_vector() -> None:
    param_json = signing.douyin_param_json(DOUYIN_PARAMS)
    # Keys sorted, no spaces, non-ASCII escaped: as the doudian SDK's json.dumps.
    assert param_json == (
        '{"idempotent_id":"op-1","incremental":true,"note":"\\u5e93\\u5b58","product_id":"3539",'
        '"sku_id":"1768","stock_num":5}'
    )
    sign = signing.douyin_sign("7152", "secret-ABC", "sku.syncStock", param_json, "1700000000")
    assert sign == "6d588fd17ebd155e3077bcf75ff685172c3cff759e54fd2de9eb8f612cde4a61"
    plain = f"secret-ABCapp_key7152methodsku.syncStockparam_json{param_json}timestamp1700000000v2secret-ABC"
    assert sign == hmac.new(b"secret-ABC", plain.encode(), hashlib.sha256).hexdigest()
    assert signing.douyin_sign("7152", "secret-ABC", "sku.syncStock", param_json, "1700000001") != sign


def test_douyin_push_event_sign_fixed_vector() -> None:
    body = b'[{"tag":"100","msg_id":"m1","data":"{}"}]'
    assert signing.douyin_event_sign("7152", body, "secret-ABC") == "c6063874dc07d5885d9790cf9454082d"
    good = {"app-id": "7152", "event-sign": "c6063874dc07d5885d9790cf9454082d"}
    signing.verify_douyin_push("7152", "secret-ABC", good, body)
    with pytest.raises(signing.PushRejected):
        signing.verify_douyin_push("7152", "secret-ABC", good, body.replace(b"100", b"101"))
    with pytest.raises(signing.PushRejected):
        signing.verify_douyin_push("7152", "secret-ABC", {**good, "app-id": "other"}, body)


def test_kuaishou_sign_fixed_vector_and_sdk() -> None:
    sign = signing.kuaishou_sign(KUAISHOU_PARAMS, "ks-sign-secret")
    assert sign == "2e54d9d21cd54fee98ea2e55d5fa8809"
    sdk_signature = pytest.importorskip("kwaixiaodian.auth.signature")
    sdk_types = pytest.importorskip("kwaixiaodian.auth.types")
    manager = sdk_signature.SignatureManager(
        sdk_types.AuthConfig(app_key="ks-app", app_secret="x", sign_secret="ks-sign-secret")
    )
    assert manager._md5_sign(manager._build_sign_string(KUAISHOU_PARAMS) + "&signSecret=ks-sign-secret") == sign


def test_kuaishou_push_decrypts_and_refuses_garbage() -> None:
    secret = "MDEyMzQ1Njc4OWFiY2RlZg=="
    assert signing.kuaishou_encrypt(b'{"a":1}', secret) == "4Bu2yOikMUYfFkhodEsv7w=="
    assert signing.kuaishou_decrypt(b"4Bu2yOikMUYfFkhodEsv7w==", secret) == {"a": 1}
    with pytest.raises(signing.PushRejected):
        signing.kuaishou_decrypt(b"4Bu2yOikMUYfFkhodEsv7w==", "ZmVkY2JhOTg3NjU0MzIxMA==")
    with pytest.raises(signing.PushRejected):
        signing.kuaishou_decrypt(b"not base64!", secret)


def test_taobao_sign_fixed_vector() -> None:
    sign = signing.taobao_sign(TAOBAO_PARAMS, "tb-secret")
    assert sign == "EF6E0687C8668E8B57E037198DBAC1CB"
    plain = "tb-secret" + "".join(f"{k}{TAOBAO_PARAMS[k]}" for k in sorted(TAOBAO_PARAMS)) + "tb-secret"
    assert sign == hashlib.md5(plain.encode()).hexdigest().upper()
    assert signing.taobao_sign({**TAOBAO_PARAMS, "sign": sign}, "tb-secret") == sign  # sign itself excluded
    assert signing.taobao_sign({**TAOBAO_PARAMS, "quantity": "-4"}, "tb-secret") != sign


def test_wechat_msg_signature_and_crypto_match_wechatpy() -> None:
    assert signing.wechat_msg_signature("tok", "1700000000", "nonce1", "ENCRYPTED") == (
        "dfda007bc2be0677ed4d4d86b0074a742dd70e48"
    )
    key, app_id = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef"
    encrypt = signing.wechat_encrypt(b'{"Event":"channels_ec_order_new"}', key, app_id, random16=b"0" * 16)
    signature = signing.wechat_msg_signature("tok", "1700000000", "nonce1", encrypt)
    query = {"timestamp": "1700000000", "nonce": "nonce1", "msg_signature": signature}
    body = json.dumps({"Encrypt": encrypt}).encode()
    assert signing.verify_wechat_push("tok", key, app_id, query, body) == {"Event": "channels_ec_order_new"}
    crypto = pytest.importorskip("wechatpy.crypto")
    xml = f"<xml><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>"
    assert crypto.WeChatCrypto("tok", key, app_id).decrypt_message(xml, signature, "1700000000", "nonce1") == (
        '{"Event":"channels_ec_order_new"}'
    )
    with pytest.raises(signing.PushRejected):
        signing.verify_wechat_push("tok", key, app_id, {**query, "nonce": "nonce2"}, body)
    with pytest.raises(signing.PushRejected):
        signing.verify_wechat_push("tok", key, "wxother", query, body)


def test_a_wechat_push_that_is_stale_or_frames_nothing_is_refused() -> None:
    """A captured push sent again later fails its timestamp; a signed Encrypt that decrypts to less
    than the 20-byte frame, or to bytes with a false padding, is refused, not a crash."""
    key, app_id = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "wx0123456789abcdef"
    encrypt = signing.wechat_encrypt(b'{"Event":"x"}', key, app_id, random16=b"0" * 16)

    def signed(encrypt: str, timestamp: str = "1700000000") -> tuple[dict[str, str], bytes]:
        signature = signing.wechat_msg_signature("tok", timestamp, "n", encrypt)
        return {"timestamp": timestamp, "nonce": "n", "msg_signature": signature}, json.dumps(
            {"Encrypt": encrypt}
        ).encode()

    query, body = signed(encrypt)
    assert signing.verify_wechat_push("tok", key, app_id, query, body, now=1700000000 + 299) == {"Event": "x"}
    with pytest.raises(signing.PushRejected, match="too old"):
        signing.verify_wechat_push("tok", key, app_id, query, body, now=1700000000 + 301)
    aes_key = base64.b64decode(key + "=")
    # 16 random bytes then padding only (no length, no app id); a whole frame whose padding bytes do
    # not all say the padding's length (the last byte alone agreed, before).
    frame = b"0" * 16 + struct.pack(">I", 13) + b'{"Event":"x"}' + app_id.encode()
    pad = 32 - len(frame) % 32
    assert pad >= 2
    for plain in (b"0" * 16 + bytes([16]) * 16, frame + bytes(pad - 1) + bytes([pad])):
        encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
        query, body = signed(base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode())
        with pytest.raises(signing.PushRejected):
            signing.verify_wechat_push("tok", key, app_id, query, body)


def test_webhook_signature_fixed_vector() -> None:
    header = signing.webhook_signature("whsec-0123456789abcdef", 1700000000, b'{"a":1}')
    assert header == "t=1700000000,v1=d77c78ac4da074c56908b55eac30358b2a7bfc573be4c76819af5102e8dcf939"
    signing.verify_webhook("whsec-0123456789abcdef", header, b'{"a":1}', now=1700000100)
    with pytest.raises(signing.PushRejected):
        signing.verify_webhook("whsec-0123456789abcdef", header, b'{"a":2}', now=1700000100)
    with pytest.raises(signing.PushRejected):
        signing.verify_webhook("whsec-0123456789abcdef", header, b'{"a":1}', now=1700001000)
