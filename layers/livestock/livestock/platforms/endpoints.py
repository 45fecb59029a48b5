"""Where LiveStock may send a request that carries a secret or the merchant's stock.

A channel's sync calls carry its platform credentials (Douyin and WeChat put the access token in the
query string), and both the channel's endpoint and its credentials reference are set by whoever
holds the API key. So a marketplace channel may only call its platform's own API host, over HTTPS;
the merchant's own shop (`webhook`) and the alert webhooks may call any public HTTPS host, never a
loopback, private or link-local address (the instance metadata service, the Lambda runtime API).
The local stack and the tests, whose fake platforms and receivers listen on 127.0.0.1, allow
loopback addresses with `ALLOW_LOOPBACK_ENDPOINTS=true`.

Not covered: a public name that resolves to a private address (the check reads the URL, it does not
resolve it), which matters only inside a VPC; these functions run outside one.
"""

import functools
import ipaddress
from urllib.parse import urlsplit

from pydantic import AnyHttpUrl, ValidationError

from livestock.models.exceptions import FieldRefused

# The platforms' open API hosts (their docs' gateway addresses).
OFFICIAL_HOSTS: dict[str, frozenset[str]] = {
    "douyin": frozenset({"openapi-fxg.jinritemai.com"}),
    "kuaishou": frozenset({"openapi.kwaixiaodian.com"}),
    "taobao": frozenset({"eco.taobao.com", "gw.api.taobao.com"}),
    "wechat": frozenset({"api.weixin.qq.com"}),
}


class EndpointRefused(FieldRefused):
    """An endpoint LiveStock will not send a secret or stock figures to."""


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _public(host: str) -> bool:
    if _loopback(host):
        return False
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return "." in host  # a name: a bare one ("metadata", "intranet") is a private network's


@functools.lru_cache(maxsize=256)  # checked before every sync round and delivery: the same few URLs
def refusal(url: str, platform: str | None, allow_loopback: bool) -> str | None:
    """Why `url` may not be called for `platform` (None: an alert webhook), or None if it may. The
    URL is read as the HTTP client reads it (pydantic's URL parser, as WHATWG): `127.1`, `0x7f.1` and
    `0177.0.0.1` are 127.0.0.1 to a resolver, and a host's trailing dot names the same host."""
    try:
        parsed = AnyHttpUrl(url)
    except ValidationError:
        return "not an http(s) URL"
    host = (parsed.host or "").lower().rstrip(".").strip("[]")
    if not host:
        return "the URL has no host"
    # The clients split the URL as urllib does: a URL the two parsers read as two hosts
    # (`https://official\\@evil`) is refused rather than guessed at.
    raw = urlsplit(url)
    if (raw.hostname or "").rstrip(".") != host:
        return "the URL's host is ambiguous"
    if parsed.username or parsed.password or raw.username is not None or raw.password is not None:
        return "the URL may not carry a user or password"
    if allow_loopback and _loopback(host):
        return None
    if parsed.scheme != "https":
        return "the URL must be https"
    if parsed.port not in (None, 443):
        return "the URL must use the HTTPS port (443)"
    official = OFFICIAL_HOSTS.get(platform or "")
    if official is not None:
        return None if host in official else f"a {platform} channel calls {', '.join(sorted(official))} only"
    return None if _public(host) else "the host must be a public address"


def check(url: str, field: str, platform: str | None, allow_loopback: bool) -> None:
    """Raises EndpointRefused (422 VALIDATION_ERROR, details.errors as a request's) for a URL `refusal` refuses."""
    reason = refusal(url, platform, allow_loopback)
    if reason is not None:
        raise EndpointRefused.at("endpoint_refused", {(field,): reason})
