"""The live console through the local stack: the WebSocket's refusals (no token, unknown, expired),
a token that sees nothing of another session, and the page in headless Chromium (stock shown,
a burst of holds reflected, the pause button pausing the SKU), with a screenshot."""

import asyncio
import http.client
import json
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from playwright.sync_api import sync_playwright
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from livestock.dal.console import ConsoleStore
from livestock.models.console import ConsoleToken
from livestock_local import browser
from livestock_local.stack import LocalStack
from tests.support.api import Api
from tests.support.console import ConsoleSession, console, plan

pytestmark = pytest.mark.e2e


async def refused_status(url: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, open_timeout=20):
            pass
    return int(refused.value.response.status_code)


async def subscribed(session: ConsoleSession, **message: Any) -> tuple[ClientConnection, dict[str, Any]]:
    socket = await connect(f"{session.websocket_url}/?token={session.token}", open_timeout=20)
    await socket.send(json.dumps({"action": "subscribe", **message}))
    return socket, json.loads(await asyncio.wait_for(socket.recv(), 20))


async def error_of(socket: ClientConnection) -> dict[str, Any]:
    """The next error message (updates of the connection's own session may come first)."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 20))
        if message["type"] == "error":
            return message


async def messages_for(
    socket: ClientConnection, seconds: float, until: Callable[[dict[str, Any]], bool] = lambda _: False
) -> list[dict[str, Any]]:
    """The messages of the next `seconds`, or up to the first one `until` accepts."""
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            found.append(json.loads(await asyncio.wait_for(socket.recv(), left)))
        except TimeoutError:
            break
        if until(found[-1]):
            break
    return found


def test_a_connection_without_a_valid_token_is_refused(stack: LocalStack, api: Api, sku_id: str) -> None:
    session_id = plan(api, [sku_id])
    expired = f"expired-{uuid.uuid4().hex}"[:43].ljust(43, "x")
    now = time.time()
    ConsoleStore(stack.table_names["ConsoleTable"]).put_token(
        expired, ConsoleToken(session_id=session_id, operate=True, expires_at=now - 1, created_at=now - 61, actor="t")
    )
    url = stack.websocket.url

    async def probe() -> list[int]:
        return [
            await refused_status(f"{url}/"),
            await refused_status(f"{url}/?token="),
            await refused_status(f"{url}/?token={'x' * 43}"),
            await refused_status(f"{url}/?token={expired}"),
        ]

    assert asyncio.run(probe()) == [401, 401, 401, 401]
    # The expired token authorises no operator action either.
    answer = requests.post(
        f"{stack.url}/console/sessions/{session_id}/skus/{sku_id}/pause",
        headers={"authorization": f"Bearer {expired}"},
        timeout=30,
    )
    assert (answer.status_code, answer.json()["code"]) == (401, "UNAUTHORIZED")


def test_a_token_for_one_session_sees_nothing_of_another(stack: LocalStack, api: Api) -> None:
    mine, theirs = f"mine-{uuid.uuid4().hex[:6]}", f"theirs-{uuid.uuid4().hex[:6]}"
    a = console(api, plan(api, [mine]), [mine], operate=True)
    b = console(api, plan(api, [theirs]), [theirs], operate=False)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
        socket_a, snapshot_a = await subscribed(a)
        socket_b, snapshot_b = await subscribed(b)
        # Asking for the other session, or its SKU, is refused and sends nothing of it.
        await socket_a.send(json.dumps({"action": "subscribe", "session_id": b.session_id}))
        refusal = await error_of(socket_a)
        await socket_a.send(json.dumps({"action": "subscribe", "sku_ids": [theirs]}))
        refusal_sku = await error_of(socket_a)
        assert refusal["code"] == refusal_sku["code"] == "FORBIDDEN"
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda n: api.post(
                        "/holds", {"channel": "douyin", "order_id": f"x{n}", "sku_id": theirs, "quantity": 1}
                    ),
                    range(10),
                )
            )
        # b's console has been told of every hold once it shows what is left after them all; a's
        # is watched for the other session's SKU through that time and 2 s more.
        left = snapshot_b["skus"][0]["sellable"] - sum(answer.status == 201 for answer in answers)
        seen_b = await messages_for(socket_b, 15, until=lambda m: any(p["sellable"] <= left for p in m["skus"]))
        seen_a = [m for m in await messages_for(socket_a, 2) if any(p["sku_id"] != mine for p in m["skus"])]
        await socket_a.close()
        await socket_b.close()
        return snapshot_a, snapshot_b, seen_a, seen_b

    snapshot_a, snapshot_b, seen_a, seen_b = asyncio.run(scenario())
    assert [p["sku_id"] for p in snapshot_a["skus"]] == [mine]
    assert [p["sku_id"] for p in snapshot_b["skus"]] == [theirs]
    assert seen_b and min(p["sellable"] for m in seen_b for p in m["skus"]) < 100
    assert seen_a == []
    # Nor can its token act on the other session.
    answer = requests.post(
        f"{stack.url}/console/sessions/{b.session_id}/skus/{theirs}/pause",
        headers={"authorization": f"Bearer {a.token}"},
        timeout=30,
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "FORBIDDEN")


@pytest.mark.skipif(not browser.available(), reason="Debian's chromium is not installed (apt-get install chromium)")
def test_the_console_page_shows_stock_reflects_a_burst_and_pauses_the_sku(
    stack: LocalStack, api: Api, sku_id: str, tmp_path: Path
) -> None:
    session = console(api, plan(api, [sku_id], on_hand=200), [sku_id], operate=True)
    assert api.put(f"/skus/{sku_id}/allocation", {"pools": {"channel:douyin": 60, "reserve": 20}}).status == 200
    card = f'article[data-sku="{sku_id}"]'
    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        page = chromium.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.goto(session.console_url)
        page.wait_for_selector(f'{card} [data-field="sellable"]:text-is("180")', timeout=30_000)
        assert page.get_attribute("#conn", "data-state") == "live"
        assert session.token not in page.url, "the token leaves the address bar"
        assert page.inner_text(f'{card} li[data-channel="douyin"] .units') == "180"
        assert page.inner_text(f'{card} li[data-channel="kuaishou"] .units') == "120"

        # A burst of holds through the API shows on the page.
        def hold(n: int) -> int:
            body = {"channel": "kuaishou", "order_id": f"burst-{n}", "sku_id": sku_id, "quantity": 1}
            return api.post("/holds", body).status

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(hold, range(40))) == {201}
        page.wait_for_selector(f'{card} [data-field="sellable"]:text-is("140")', timeout=30_000)
        page.wait_for_selector(f'{card} [data-field="held"]:text-is("40")', timeout=30_000)
        assert page.inner_text(f'{card} li[data-channel="kuaishou"] .units') == "80"

        # The pause button asks, pauses the SKU, and shows the API's answer.
        questions: list[str] = []

        def accept(dialog: Any) -> None:
            questions.append(dialog.message)
            dialog.accept()

        page.on("dialog", accept)
        page.click(f'{card} button[data-action="pause"]')
        page.wait_for_selector(f'{card} output.answer.ok:has-text("paused")', timeout=30_000)
        assert questions == [f"Pause {sku_id} on every platform?"]
        page.wait_for_selector(f'{card} [data-field="paused"]:not([hidden])', timeout=30_000)
        refused = api.post("/holds", {"channel": "douyin", "order_id": "after-pause", "sku_id": sku_id, "quantity": 1})
        assert (refused.status, refused.code) == (409, "PAUSED")

        # An action the API refuses shows its error: more reserve than there is.
        page.fill(f'{card} [data-input="reserve-qty"]', "999")
        page.click(f'{card} button[data-action="reserve"]')
        page.wait_for_selector(f'{card} output.answer.error:has-text("INSUFFICIENT_FREE_STOCK")', timeout=30_000)

        # The answer of a release is lost on its way back (the server did it); the host presses
        # again: the page sends the same idempotency key, and the units are released once.
        keys: list[str | None] = []

        def lose_the_first_answer(route: Any) -> None:
            keys.append(route.request.headers.get("idempotency-key"))
            if len(keys) == 1:
                route.fetch()  # it reaches the API
                route.abort()  # its answer never reaches the page
            else:
                route.continue_()

        page.route("**/reserve/release", lose_the_first_answer)
        page.fill(f'{card} [data-input="reserve-qty"]', "5")
        page.click(f'{card} button[data-action="reserve"]')
        page.wait_for_selector(f'{card} output.answer.error:has-text("request failed")', timeout=30_000)
        page.click(f'{card} button[data-action="reserve"]')
        page.wait_for_selector(f'{card} output.answer.ok:has-text("released 5 units")', timeout=30_000)
        assert len(keys) == 2 and keys[0] and keys[0] == keys[1], keys
        assert api.get(f"/skus/{sku_id}").body["pools"]["reserve"] == 15, "released once"

        screenshot = tmp_path / "console.png"
        page.screenshot(path=str(screenshot), full_page=True)
        assert screenshot.stat().st_size > 10_000
        chromium.close()
    print(f"screenshot: {screenshot}")


def test_the_management_api_answers_gone_and_keeps_the_connection_alive(stack: LocalStack) -> None:
    """A fan-out posts to every connection several times a second: as on API Gateway, its HTTP
    connections are kept alive between posts, and a post to a connection that has gone is 410."""
    endpoint = urlsplit(
        stack.functions["ConsoleFanoutFunction"].environment["AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI"]
    )
    assert endpoint.hostname is not None
    connection = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=10)
    answers = []
    for _ in range(3):
        connection.request("POST", f"{endpoint.path}/@connections/gone-{uuid.uuid4().hex[:8]}", body=b"{}")
        response = connection.getresponse()
        response.read()
        answers.append((response.status, response.getheader("x-amzn-ErrorType"), response.will_close))
    connection.close()
    assert answers == [(410, "GoneException", False)] * 3
