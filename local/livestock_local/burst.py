"""kill -9 in the middle of a sale: the probe behind `make chaos`'s burst figures and its bounded
test (tests/integration/test_kill_mid_burst.py).

A stack runs as `make up` runs it (`python -m livestock_local.stack`, data on disk, its own process
group). 64 clients order 2,000 units' worth of one SKU that has 1,000 (quantities 1 to 3, a third
of them with a 2-second payment window so the sweeper expires holds during the burst, a third
confirmed once held). When enough orders have been answered, one of:

- `group`: the whole process group gets SIGKILL, and the same command starts again on the same
  data and port (a client whose call was cut off sees a timeout and sends the same order again);
- `consumer`: only the stream consumer's process (the StreamConsumerFunction's event source
  mapping, `ls-StreamConsum`) gets SIGKILL; the stack starts it again;
- `sweeper`: only the sweeper's execution environment (`ls-schedule`) gets SIGKILL, caught while it
  is busy if it can be; the next sweep gets a new one.

Then, once every client has its answer and the stream has settled, the probe counts what went wrong:
units oversold, units lost (held + sold + every pool against on-hand), ledger movements written
twice or missing (the ledger against the shard and hold counters), clients whose answer a replay
contradicts or whose hold does not say what they were told.
"""

import contextlib
import os
import random
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from livestock.keys import hold_id_for
from livestock_local.stack import DEFAULT_API_KEY
from livestock_local.stack_process import StackProcess, descendants, start_stack

KILL_TARGETS = ("group", "consumer", "sweeper")
CHANNELS = ("douyin", "kuaishou", "taobao")
# A call that has not answered by then counts as a timeout (the API's own limit is 29 s at most).
CLIENT_TIMEOUT_S = 15.0
# The stack as the probe runs it: 4 API environments, sweeps every second (make up: 5 s).
STACK_ENVIRONMENT = {"LIVESTOCK_SWEEP_PERIOD_S": "1"}
API_WORKERS = 4
# A loaded machine (the other engineers' jobs) can take minutes to start the stack.
START_TIMEOUT_S = 300.0
HEADERS = {"x-api-key": DEFAULT_API_KEY}
# A third of the orders expire during the burst (the sweeper's work); the others must not expire
# before the probe has counted (a slow machine takes many minutes; the default window is 15).
SHORT_PAY_WINDOW_S = 2
LONG_PAY_WINDOW_S = 6 * 3600


@dataclass
class Order:
    channel: str
    order_id: str
    quantity: int
    pay_within_s: int
    confirm: bool

    def body(self, sku_id: str) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "order_id": self.order_id,
            "sku_id": sku_id,
            "quantity": self.quantity,
            "pay_within_s": self.pay_within_s,
        }


@dataclass
class Outcome:
    """What one client saw for one order: its final answer, and how often a call was cut off."""

    order: Order
    status: int = 0
    body: Any = None
    timeouts: int = 0
    server_errors: int = 0
    in_progress: int = 0
    answered_before_kill: bool = False
    confirm_status: int | None = None
    answered_at: float = 0.0

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


def plan(units: int, seed: int) -> list[Order]:
    """Orders of 1 to 3 units adding up to `units`."""
    rng = random.Random(seed)
    orders: list[Order] = []
    left = units
    while left:
        quantity = min(left, rng.randint(1, 3))
        left -= quantity
        number = len(orders)
        orders.append(
            Order(
                channel=CHANNELS[number % len(CHANNELS)],
                order_id=f"burst-{number}",
                quantity=quantity,
                pay_within_s=SHORT_PAY_WINDOW_S if number % 3 == 0 else LONG_PAY_WINDOW_S,
                confirm=number % 3 == 1,
            )
        )
    return orders


class Clients:
    """The buyers' side: `clients` threads sending the orders, each waiting out a stack that is
    down (`up` cleared) and sending an order again after a timeout, as a platform would."""

    def __init__(self, url: str, sku_id: str, clients: int) -> None:
        self.url = url
        self.sku_id = sku_id
        self.clients = clients
        self.up = threading.Event()
        self.up.set()
        self.killed = threading.Event()
        # Set when the stack could not be started again: every client gives up.
        self.abort = threading.Event()
        self.answered = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _session(self) -> requests.Session:
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        session: requests.Session = self._local.session
        return session

    def _call(self, outcome: Outcome, path: str, body: dict[str, Any] | None) -> requests.Response:
        """One logical call, sent again until it has an answer that is not a cut-off or a 5xx."""
        while True:
            self.up.wait()
            if self.abort.is_set():
                raise RuntimeError("the stack did not come back")
            try:
                response = self._session().post(
                    f"{self.url}{path}", json=body, headers=HEADERS, timeout=CLIENT_TIMEOUT_S
                )
            except requests.RequestException:
                outcome.timeouts += 1
                self._session().close()
                time.sleep(0.2)
                continue
            if response.status_code >= 500:
                outcome.server_errors += 1
                time.sleep(0.2)
                continue
            answer = response.json()
            if isinstance(answer, dict) and answer.get("code") == "REQUEST_IN_PROGRESS":
                outcome.in_progress += 1
                time.sleep(float(answer["details"].get("retry_after_s", 1)))
                continue
            return response

    def send(self, order: Order) -> Outcome:
        outcome = Outcome(order)
        response = self._call(outcome, "/holds", order.body(self.sku_id))
        outcome.status, outcome.body = response.status_code, response.json()
        outcome.answered_before_kill = not self.killed.is_set()
        outcome.answered_at = time.monotonic()
        with self._lock:
            self.answered += 1
        if outcome.status == 201 and order.confirm:
            confirmed = self._call(outcome, f"/holds/{outcome.body['hold_id']}/confirm", None)
            outcome.confirm_status = confirmed.status_code
        return outcome

    def run(self, orders: list[Order]) -> list[Outcome]:
        with ThreadPoolExecutor(self.clients) as pool:
            return list(pool.map(self.send, orders))


@dataclass
class BurstResult:
    target: str
    units: int
    units_ordered: int
    orders: int
    burst_s: float
    killed_after: int
    kill_hit_busy: bool | None
    ready_s: float
    settled_s: float
    replays_answered_s: float
    timed_out_orders: int
    timeouts: int
    server_errors: int
    answers: dict[str, int]
    conservation: dict[str, int]
    consistent: bool
    oversold: int
    lost: int
    duplicated: int
    skipped: int
    ledger_vs_counters: int
    replays: int
    replays_disagreeing: int
    holds_disagreeing: int
    # Holds past their 2-second payment window still held at the end: the sweeper stopped.
    overdue_held: int = 0
    restarts_seen: list[str] = field(default_factory=list)
    # What disagreed, for whoever reads a failed run (the first few).
    examples: list[str] = field(default_factory=list)
    load_average: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.consistent
            and self.oversold == 0
            and self.lost == 0
            and self.duplicated == 0
            and self.skipped == 0
            and self.ledger_vs_counters == 0
            and self.replays_disagreeing == 0
            and self.holds_disagreeing == 0
            and self.overdue_held == 0
        )


def descendants_named(pid: int, name: str) -> list[int]:
    """The running processes under pid whose /proc/<pid>/comm is `name`."""
    found = []
    for child in descendants(pid):
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{child}/stat").read_text()
            if Path(f"/proc/{child}/comm").read_text().strip() == name and stat[stat.rindex(")") + 2] not in "ZX":
                found.append(child)
    return found


def _cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def _kill_when_busy(running: StackProcess, name: str, within_s: float) -> bool | None:
    """SIGKILL to the stack's process called `name`, caught using the CPU if it can be within
    `within_s` (a sweep in progress). True if it was busy, False if the time ran out, None if no
    such process ran."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        for pid in descendants_named(running.pid, name):
            with contextlib.suppress(OSError):
                before = _cpu_ticks(pid)
                time.sleep(0.02)
                if _cpu_ticks(pid) > before:
                    os.kill(pid, signal.SIGKILL)
                    return True
        time.sleep(0.01)
    pids = descendants_named(running.pid, name)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return False if pids else None


def _get(session: requests.Session, url: str) -> Any:
    response = session.get(url, headers=HEADERS, timeout=60)
    response.raise_for_status()
    return response.json()


def _settle(session: requests.Session, url: str, sku_id: str, timeout_s: float) -> dict[str, Any]:
    """Reconciliation once it is consistent (the stream caught up, nothing in flight), or the last."""
    deadline = time.monotonic() + timeout_s
    while True:
        reconciliation: dict[str, Any] = _get(session, f"{url}/skus/{sku_id}/reconciliation")
        if reconciliation["consistent"] or time.monotonic() > deadline:
            return reconciliation
        time.sleep(0.3)


def _ledger(session: requests.Session, url: str, sku_id: str) -> list[dict[str, Any]]:
    movements: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"?limit=500&cursor={cursor}" if cursor else "?limit=500"
        page = _get(session, f"{url}/skus/{sku_id}/ledger{query}")
        movements += page["movements"]
        cursor = page["cursor"]
        if not cursor:
            return movements


def _ledger_faults(movements: list[dict[str, Any]], holds: dict[str, tuple[str, int]]) -> tuple[int, int, list[str]]:
    """The ledger against each hold. A hold's units taken from the pools, net (its decrements,
    named `<hold>#<attempt>`, less what was given back for it: returns, compensations of a write
    that landed twice), must be its quantity while it is held or confirmed and 0 once it is closed
    or never held; and each of its transitions (hold, confirm, expire...) is recorded once.
    Returns holds with units taken twice or a transition written twice (duplicated), holds whose
    decrement or transition is missing (skipped), and a few examples."""
    taken: Counter[str] = Counter()
    transitions: Counter[tuple[str, str, str]] = Counter()
    for movement in movements:
        reference = str(movement.get("reference") or "")
        if not reference.startswith("h_"):
            continue
        hold_id = reference.partition("#")[0]
        if str(movement["bucket"]).startswith("pool:"):
            taken[hold_id] -= int(movement["delta"])
        elif "#" not in reference:
            transitions[(hold_id, str(movement["op"]), str(movement["bucket"]))] += 1
    duplicated = skipped = 0
    examples: list[str] = []
    twice = {hold_id for (hold_id, _, _), count in transitions.items() if count > 1}
    for hold_id in set(taken) | set(holds) | twice:
        status, quantity = holds.get(hold_id, ("none", 0))
        owned = quantity if status in ("held", "confirmed") else 0
        told_held = status in ("held", "confirmed", "expired")
        has_hold_step = (hold_id, "hold", "held") in transitions
        if taken[hold_id] > owned or hold_id in twice:
            duplicated += 1
            examples.append(f"{hold_id} ({status} x{quantity}): {taken[hold_id]} units taken in the ledger")
        elif taken[hold_id] < owned or (told_held and not has_hold_step):
            skipped += 1
            examples.append(
                f"{hold_id} ({status} x{quantity}): {taken[hold_id]} units taken, hold step {has_hold_step}"
            )
    return duplicated, skipped, examples


def _hold_agrees(session: requests.Session, url: str, sku_id: str, outcome: Outcome) -> tuple[bool, str | None, int]:
    """Whether the hold says what the client was told; its status and units (0 unless held once).
    A refusal is stored on the hold, or leaves no hold at all when the sold-out shield refused the
    order from memory (README: "an order refused by the shield leaves no record")."""
    order = outcome.order
    hold_id = outcome.body["hold_id"] if outcome.status == 201 else hold_id_for(order.channel, order.order_id, sku_id)
    response = session.get(f"{url}/holds/{hold_id}", headers=HEADERS, timeout=60)
    if outcome.status == 201:
        hold = response.json()
        agrees = (
            response.status_code == 200
            and hold["quantity"] == order.quantity
            and hold["status"] in ("held", "confirmed", "expired")
        )
        return agrees, str(hold.get("status")), int(hold.get("quantity", 0))
    if (outcome.status, outcome.code) != (409, "SOLD_OUT"):
        return False, None, 0
    if response.status_code == 404:
        return True, None, 0
    status = str(response.json().get("status"))
    return status == "rejected", status, 0


def _overdue(session: requests.Session, url: str, outcomes: list[Outcome], timeout_s: float) -> int:
    """Holds with the 2-second payment window still held: the sweeper stopped expiring them. Waits
    up to `timeout_s` for sweeps to come (every second here)."""
    short = [o.body["hold_id"] for o in outcomes if o.status == 201 and o.order.pay_within_s == SHORT_PAY_WINDOW_S]
    deadline = time.monotonic() + timeout_s
    while True:
        held = [hold_id for hold_id in short if _get(session, f"{url}/holds/{hold_id}")["status"] == "held"]
        if not held or time.monotonic() > deadline:
            return len(held)
        short = held
        time.sleep(1.0)


def _replay_agrees(session: requests.Session, url: str, sku_id: str, outcome: Outcome, recorded: bool) -> bool:
    """A replay of the order answers as the client was answered. An order the shield refused
    without a record is not replayed: it holds nothing, and a replay would be a new order."""
    if outcome.status != 201 and not recorded:
        return True
    replay = session.post(f"{url}/holds", json=outcome.order.body(sku_id), headers=HEADERS, timeout=60)
    return (replay.status_code, replay.json()) == (outcome.status, outcome.body)


def burst_kill_probe(
    state_dir: Path,
    target: str,
    units: int = 1000,
    clients: int = 64,
    kill_fraction: float = 0.4,
    seed: int = 7,
    settle_timeout_s: float = 120.0,
    progress: Callable[[str], None] | None = None,
    function_variables: dict[str, str] | None = None,
) -> BurstResult:
    """One run: see the module. `units` on hand, twice that ordered. `function_variables` go to
    every function over the template's (`make chaos` keeps the template's 30 s settlement window;
    an order cut off by the kill is answered only once that window has passed)."""
    if target not in KILL_TARGETS:
        raise ValueError(f"target is one of {KILL_TARGETS}, not {target!r}")
    say = progress or (lambda _: None)
    running = start_stack(
        state_dir,
        workers=API_WORKERS,
        environment=STACK_ENVIRONMENT,
        timeout_s=START_TIMEOUT_S,
        function_variables=function_variables,
    )
    session = requests.Session()
    sku_id = f"burst-{uuid.uuid4().hex[:8]}"
    created = session.put(f"{running.url}/skus/{sku_id}", json={"name": "Tee", "on_hand": units}, headers=HEADERS)
    created.raise_for_status()
    orders = plan(units * 2, seed)
    buyers = Clients(running.url, sku_id, clients)
    kill_at = int(len(orders) * kill_fraction)
    timings: dict[str, float] = {}
    hit_busy: list[bool | None] = [None]
    stacks = [running]

    def fault() -> None:
        while buyers.answered < kill_at:
            time.sleep(0.005)
        timings["killed_after"] = buyers.answered
        if target == "group":
            buyers.up.clear()
            os.killpg(running.pid, signal.SIGKILL)
            buyers.killed.set()
            timings["kill"] = time.monotonic()
            try:
                again = start_stack(
                    state_dir,
                    port=running.port,
                    workers=API_WORKERS,
                    environment=STACK_ENVIRONMENT,
                    timeout_s=START_TIMEOUT_S,
                    function_variables=function_variables,
                )
            except RuntimeError:
                buyers.abort.set()
                buyers.up.set()
                raise
            timings["ready"] = time.monotonic()
            stacks.append(again)
            buyers.up.set()
            running.process.wait()
            return
        name = "ls-StreamConsum" if target == "consumer" else "ls-schedule"
        before = set(descendants_named(running.pid, name))
        buyers.killed.set()
        timings["kill"] = time.monotonic()
        hit_busy[0] = _kill_when_busy(running, name, within_s=5.0)
        while not set(descendants_named(running.pid, name)) - before:
            if time.monotonic() - timings["kill"] > 60:
                break
            time.sleep(0.02)
        timings["ready"] = time.monotonic()

    began = time.monotonic()
    faulting = threading.Thread(target=fault, name="fault")
    faulting.start()
    try:
        outcomes = buyers.run(orders)
        burst_end = time.monotonic()
        faulting.join()
        current = stacks[-1]
        say(f"burst of {len(orders)} orders answered in {burst_end - began:.1f}s; settling")
        reconciliation = _settle(session, current.url, sku_id, settle_timeout_s)
        settled = time.monotonic()
        overdue = _overdue(session, current.url, outcomes, timeout_s=30)
        replays_disagreeing = 0
        holds_disagreeing = 0
        examples: list[str] = []
        units_by_status: Counter[str] = Counter()
        for outcome in outcomes:
            agrees, status, quantity = _hold_agrees(session, current.url, sku_id, outcome)
            if not agrees:
                holds_disagreeing += 1
                examples.append(f"hold {status} x{quantity} for an answer {outcome.status} {outcome.body}")
            if not _replay_agrees(session, current.url, sku_id, outcome, recorded=status is not None):
                replays_disagreeing += 1
                examples.append(f"a replay of {outcome.order} disagrees with {outcome.status} {outcome.body}")
            if status and outcome.status == 201:
                units_by_status[status] += quantity
        statuses: dict[str, tuple[str, int]] = {}
        for outcome in outcomes:
            order = outcome.order
            hold_id = hold_id_for(order.channel, order.order_id, sku_id)
            response = session.get(f"{current.url}/holds/{hold_id}", headers=HEADERS, timeout=60)
            if response.status_code == 200:
                statuses[hold_id] = (str(response.json()["status"]), int(response.json()["quantity"]))
        duplicated, skipped, ledger_examples = _ledger_faults(_ledger(session, current.url, sku_id), statuses)
        examples += ledger_examples
        reconciliation = _get(session, f"{current.url}/skus/{sku_id}/reconciliation")
        actual, conservation = reconciliation["actual"], reconciliation["conservation"]
        # The holds' own word against the counters: units held and sold as the clients were told.
        off = abs(units_by_status["held"] - actual.get("held", 0)) + abs(
            units_by_status["confirmed"] - actual.get("sold", 0)
        )
        if off:
            holds_disagreeing += off
            examples.append(f"holds say {dict(units_by_status)}; the counters say {actual}")
        on_hand = conservation["on_hand"]
        accounted = conservation["in_pools"] + conservation["held"] + conservation["sold"]
        negative = sum(-value for bucket, value in actual.items() if bucket.startswith("pool:") and value < 0)
        restarts = [line for line in current.output if "started again" in line or "stale lock" in line]
    finally:
        for stack in stacks:
            with contextlib.suppress(OSError):
                os.killpg(stack.pid, signal.SIGTERM)
            with contextlib.suppress(Exception):
                stack.process.wait(timeout=20)
    timed_out = [outcome for outcome in outcomes if outcome.timeouts or outcome.server_errors]
    return BurstResult(
        target=target,
        units=units,
        units_ordered=units * 2,
        orders=len(orders),
        burst_s=round(burst_end - began, 2),
        killed_after=int(timings.get("killed_after", 0)),
        kill_hit_busy=hit_busy[0],
        ready_s=round(timings["ready"] - timings["kill"], 2),
        settled_s=round(settled - burst_end, 2),
        replays_answered_s=round(max((o.answered_at for o in timed_out), default=timings["kill"]) - timings["kill"], 2),
        timed_out_orders=len(timed_out),
        timeouts=sum(outcome.timeouts for outcome in outcomes),
        server_errors=sum(outcome.server_errors for outcome in outcomes),
        answers=dict(Counter(f"{outcome.status} {outcome.code or ''}".strip() for outcome in outcomes)),
        conservation=conservation,
        consistent=bool(reconciliation["consistent"]),
        oversold=max(0, conservation["held"] + conservation["sold"] - on_hand) + negative,
        lost=max(0, on_hand - accounted),
        duplicated=duplicated,
        skipped=skipped,
        ledger_vs_counters=sum(abs(value) for value in reconciliation["differences"].values()),
        replays=len(outcomes),
        replays_disagreeing=replays_disagreeing,
        holds_disagreeing=holds_disagreeing,
        overdue_held=overdue,
        restarts_seen=restarts,
        examples=examples[:12],
        load_average=round(os.getloadavg()[0], 1),
    )
