"""Each platform's request signature and order-push verification, as its open-platform docs and
SDKs define them (see docs/platforms.md). Pure functions: the adapters sign with them, the inbound
routes verify with them, and the fake platforms of the local stack check with the very same code
only where the platform's side is the mirror image (the tests hold both to fixed vectors)."""

import base64
import hashlib
import hmac
import json
import os
import struct
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class PushRejected(ValueError):
    """An inbound push whose signature or encryption does not check out."""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


# --- Douyin (抖店) -------------------------------------------------------------------------------


def douyin_param_json(params: Mapping[str, Any]) -> str:
    """param_json as the signer sees it: keys sorted, no spaces, non-ASCII escaped (the SDK's dumps)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def douyin_sign(app_key: str, app_secret: str, method: str, param_json: str, timestamp: str, v: str = "2") -> str:
    """hex HMAC-SHA256(app_secret, app_secret + app_key… method… param_json… timestamp… v + app_secret)."""
    plain = f"{app_secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v{v}{app_secret}"
    return hmac.new(app_secret.encode(), plain.encode(), hashlib.sha256).hexdigest()


def douyin_event_sign(app_key: str, body: bytes, app_secret: str) -> str:
    """The order push's `event-sign` header: md5(app_key + raw body + app_secret)."""
    return hashlib.md5(app_key.encode() + body + app_secret.encode(), usedforsecurity=False).hexdigest()


def verify_douyin_push(app_key: str, app_secret: str, headers: Mapping[str, str], body: bytes) -> None:
    given = headers.get("event-sign", "")
    if headers.get("app-id", "") != app_key or not hmac.compare_digest(
        given, douyin_event_sign(app_key, body, app_secret)
    ):
        raise PushRejected("event-sign does not match")


# --- Kuaishou (快手电商) ---------------------------------------------------------------------------


def kuaishou_sign(params: Mapping[str, str], sign_secret: str) -> str:
    """md5 lowercase hex of the sorted `k=v&…` of the system parameters and `&signSecret=<secret>`."""
    plain = "&".join(f"{k}={params[k]}" for k in sorted(params)) + f"&signSecret={sign_secret}"
    return _md5(plain)


def _aes_cbc(key: bytes, iv: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def kuaishou_encrypt(message: bytes, message_secret_b64: str) -> str:
    """What the platform does to a push body: AES-CBC, key = base64-decoded secret, zero IV, PKCS5."""
    key = base64.b64decode(message_secret_b64)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(message) + padder.finalize()
    encryptor = _aes_cbc(key, bytes(16)).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def kuaishou_decrypt(body: bytes, message_secret_b64: str) -> dict[str, Any]:
    try:
        key = base64.b64decode(message_secret_b64)
        decryptor = _aes_cbc(key, bytes(16)).decryptor()
        padded = decryptor.update(base64.b64decode(body, validate=True)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        message = json.loads(unpadder.update(padded) + unpadder.finalize())
    except (ValueError, TypeError) as failure:
        raise PushRejected("the body does not decrypt with the message secret") from failure
    if not isinstance(message, dict):
        raise PushRejected("the decrypted body is not an object")
    return message


# --- Taobao / Tmall (TOP) ------------------------------------------------------------------------


def taobao_sign(params: Mapping[str, str], secret: str) -> str:
    """upper(md5(secret + concat(sorted k + v) + secret)), the TOP md5 scheme (`sign` itself excluded)."""
    plain = secret + "".join(f"{k}{params[k]}" for k in sorted(params) if k != "sign") + secret
    return _md5(plain).upper()


# --- WeChat Channels (视频号小店) --------------------------------------------------------------------


def wechat_msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypt])).encode(), usedforsecurity=False).hexdigest()


def _wechat_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")


def wechat_encrypt(message: bytes, encoding_aes_key: str, app_id: str, random16: bytes | None = None) -> str:
    """16 random bytes + big-endian length + message + appid, PKCS7 to 32-byte blocks, AES-CBC with
    IV = key[:16] (the scheme of the official samples and wechatpy's WeChatCrypto)."""
    key = _wechat_key(encoding_aes_key)
    plain = (random16 or os.urandom(16)) + struct.pack(">I", len(message)) + message + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = _aes_cbc(key, key[:16]).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def wechat_decrypt(encrypt: str, encoding_aes_key: str, app_id: str) -> bytes:
    key = _wechat_key(encoding_aes_key)
    try:
        decryptor = _aes_cbc(key, key[:16]).decryptor()
        plain = decryptor.update(base64.b64decode(encrypt, validate=True)) + decryptor.finalize()
    except ValueError as failure:
        raise PushRejected("Encrypt is not valid base64 AES-CBC") from failure
    pad = plain[-1] if plain else 0
    if not 1 <= pad <= 32 or plain[-pad:] != bytes([pad]) * pad:
        raise PushRejected("bad padding")
    plain = plain[:-pad]
    # 16 random bytes, the message's length, the message, the app id: anything shorter is not a message.
    if len(plain) < 20:
        raise PushRejected("the decrypted message is too short")
    (length,) = struct.unpack(">I", plain[16:20])
    message, tail = plain[20 : 20 + length], plain[20 + length :]
    if len(message) != length or tail.decode(errors="replace") != app_id:
        raise PushRejected("the message is for another app id")
    return message


# How far a WeChat push's signed timestamp may be from now (its webhooks' own tolerance is the same).
WECHAT_PUSH_AGE_S = 300


def _fresh(timestamp: str, now: float, tolerance_s: float) -> bool:
    try:
        return abs(now - int(timestamp)) <= tolerance_s
    except ValueError:
        return False


def verify_wechat_push(
    token: str, encoding_aes_key: str, app_id: str, query: Mapping[str, str], body: bytes, now: float | None = None
) -> dict[str, Any]:
    """Checks msg_signature over (token, timestamp, nonce, Encrypt), then decrypts the message.
    With `now`, a signed timestamp more than WECHAT_PUSH_AGE_S away is refused: a captured push
    cannot be sent again later."""
    try:
        encrypt = str(json.loads(body)["Encrypt"])
    except (ValueError, KeyError, TypeError) as failure:
        raise PushRejected('the body is not {"Encrypt": ...}') from failure
    expected = wechat_msg_signature(token, query.get("timestamp", ""), query.get("nonce", ""), encrypt)
    if not hmac.compare_digest(query.get("msg_signature", ""), expected):
        raise PushRejected("msg_signature does not match")
    if now is not None and not _fresh(query.get("timestamp", ""), now, WECHAT_PUSH_AGE_S):
        raise PushRejected("the signed timestamp is too old or in the future")
    message = json.loads(wechat_decrypt(encrypt, encoding_aes_key, app_id))
    if not isinstance(message, dict):
        raise PushRejected("the decrypted message is not an object")
    return message


# --- the generic webhook platform: the alert webhooks' scheme --------------------------------------


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_webhook(secret: str, header: str, body: bytes, now: float, tolerance_s: float = 300) -> None:
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError) as failure:
        raise PushRejected("no timestamp in the signature") from failure
    if not hmac.compare_digest(webhook_signature(secret, timestamp, body), header):
        raise PushRejected("signature does not match")
    if abs(now - timestamp) > tolerance_s:
        raise PushRejected("signature too old")
