"""Loads handlers from their CodeUri and runs them as the Lambda service would: one invocation per
execution environment, each function with its own environment variables and timeout."""

import contextlib
import ctypes
import importlib.util
import multiprocessing
import os
import signal
import threading
import time
import uuid
import warnings
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import forkserver
from types import ModuleType
from typing import Any, Protocol

from livestock_local import iam
from livestock_local.template import Function


@dataclass
class LocalContext:
    """The fields of a Lambda context that handlers and Powertools read."""

    function_name: str
    timeout_s: float = 30.0
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"

    def __post_init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:000000000000:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Handler(Protocol):
    def __call__(self, event: dict[str, Any], context: Any) -> Any: ...


class LocalLambda:
    """A function with a pool of execution environments: like Lambda, one environment serves one
    invocation at a time (Powertools' resolver keeps per-request state on its module-level app),
    and a new environment (a fresh copy of the handler module) is made when all are busy."""

    def __init__(self, function: Function, play_iam: bool = False) -> None:
        self.function = function
        # In the stack's processes, each call the function makes is checked against its role.
        self.play_iam = play_iam
        self._idle: list[ModuleType] = []
        self._lock = threading.Lock()
        self._created = 0

    @property
    def environments(self) -> int:
        return self._created

    def _new_environment(self) -> ModuleType:
        with self._lock:
            self._created += 1
            number = self._created
        module_file, _, _ = self.function.handler.rpartition(".")
        path = self.function.code_uri / f"{module_file}.py"
        spec = importlib.util.spec_from_file_location(f"fn_{self.function.logical_id}_{number}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def prepare(self) -> None:
        """Makes one environment now (Lambda's provisioned concurrency): the first call of a burst
        does not pay for importing the handler."""
        environment = self._new_environment()
        with self._lock:
            self._idle.append(environment)

    def environment(self) -> ModuleType:
        """A fresh environment, for reading what the handler module declares."""
        return self._new_environment()

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            environment = self._idle.pop() if self._idle else None
        if environment is None:
            environment = self._new_environment()
        try:
            handler: Handler = getattr(environment, self.function.handler.rpartition(".")[2])
            context = LocalContext(self.function.logical_id, self.function.timeout_s, self.function.memory_mb)
            role = iam.acting_as(self.function.logical_id, self.function.grants)
            with role if self.play_iam else contextlib.nullcontext():
                return handler(event, context)
        finally:
            with self._lock:
                self._idle.append(environment)


class FunctionTimeout(RuntimeError):
    """The function ran past its Timeout (Lambda: "Task timed out after N seconds")."""


PR_SET_PDEATHSIG = 1


def become_stack_child() -> None:
    """For a process the stack starts: the stack alone decides when it stops. Ctrl-C reaches the
    whole terminal group, so the child ignores SIGINT and waits to be stopped in order; if the stack
    dies without stopping it (kill -9), the kernel kills the child too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The fork server ignores SIGTERM (worker_signals); the stack stops this child with it.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    # A forkserver child is handed the stack's end of the server's "alive" pipe (so that it could
    # start children of its own, which ours never do). Holding it, the children would keep the
    # server, their parent, alive after a kill -9 of the stack alone, and so themselves. Let go of
    # it: the server then ends with the stack, and this child with the server (PDEATHSIG above).
    server = forkserver._forkserver  # the one place multiprocessing keeps that fd
    alive: int | None = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:
        os.close(alive)
        server._forkserver_alive_fd = None  # type: ignore[attr-defined]
    # Metrics are not published locally; Powertools would warn about it on every call.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


_worker_functions: dict[str, LocalLambda] = {}
_base_environment: dict[str, str] = {}
PR_SET_NAME = 15


def name_process(name: str) -> None:
    """The process's name in /proc/<pid>/comm (15 characters at most), so that `ps`, `top` and the
    fault probes tell the stack's processes apart (each forked one is otherwise `ls-forkserver`)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_NAME, name.encode()[:15], 0, 0, 0)


def worker_context() -> multiprocessing.context.ForkServerContext:
    """How the stack starts its children: forked from one server process that has loaded the
    libraries every function uses (livestock_local.worker_preload). Spawning each from a new
    interpreter made every one import them again: about a second of CPU each, for nine or more
    processes at every stack start. The server is a child of the stack and ends with it; its
    children are killed with it (PDEATHSIG, `become_stack_child`)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["livestock_local.worker_signals", "livestock_local.worker_preload"])
    return context


def adopt_environment(environment: dict[str, str]) -> None:
    """A forked child starts with the variables the fork server started with, not the stack's of
    now (its database's endpoint and key, say): it takes those it was given."""
    os.environ.clear()
    os.environ.update(environment)


def _worker_start(functions: list[Function], pool: str, environment: dict[str, str]) -> None:
    adopt_environment(environment)
    become_stack_child()
    name_process(f"ls-{pool}")
    _base_environment.update(os.environ)
    for function in functions:
        _worker_functions[function.logical_id] = LocalLambda(function, play_iam=True)
        os.environ.update(function.environment)
        _worker_functions[function.logical_id].prepare()
        os.environ.clear()
        os.environ.update(_base_environment)


def _time_out(*_: object) -> None:
    raise FunctionTimeout("the function ran past its Timeout")


def _worker_invoke(logical_id: str, event: dict[str, Any]) -> Any:
    # One invocation at a time per worker: the function's own variables are in place for its call,
    # and its Timeout counts from here (as Lambda's does), not from when the call was queued.
    function = _worker_functions[logical_id]
    os.environ.clear()
    os.environ.update({**_base_environment, **function.function.environment})
    previous = signal.signal(signal.SIGALRM, _time_out)
    signal.setitimer(signal.ITIMER_REAL, function.function.timeout_s)
    try:
        return function.invoke(event)
    except FunctionTimeout:
        raise FunctionTimeout(f"{logical_id} timed out after {function.function.timeout_s:g} seconds") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _worker_ready() -> int:
    return os.getpid()


class TurnTaking:
    """The environments of one pool, handed out function by function in turn.

    On AWS each function scales on its own: a backlog of one function's events never delays
    another's. Here a pool has a few environments for several functions, so each function's calls
    wait in a line of their own, and an environment that comes free takes the first call of the
    next function in turn that has one (a call that finds an environment free and nobody waiting
    takes it at once). A burst of StockChanged for platform sync then costs a webhook's delivery
    one call's wait at most, not the whole backlog's."""

    def __init__(self, environments: int) -> None:
        self._free = environments
        self._lock = threading.Lock()
        self._lines: dict[str, deque[threading.Event]] = {}
        self._turns: deque[str] = deque()  # functions with a call waiting, in the order they are served

    def acquire(self, function: str) -> None:
        with self._lock:
            if self._free and not self._turns:
                self._free -= 1
                return
            ready = threading.Event()
            line = self._lines.setdefault(function, deque())
            if not line:
                self._turns.append(function)
            line.append(ready)
        ready.wait()

    @property
    def waiting(self) -> int:
        """Calls waiting for an environment."""
        with self._lock:
            return sum(len(line) for line in self._lines.values())

    def release(self) -> None:
        """The environment goes to the next function in turn, or back to the free ones."""
        with self._lock:
            if not self._turns:
                self._free += 1
                return
            function = self._turns.popleft()
            line = self._lines[function]
            ready = line.popleft()
            if line:
                self._turns.append(function)
        ready.set()


class Invoker:
    """Runs any function of the template on an event: the one way the gateway, the schedules and
    `make invoke` call a function.

    Execution environments are worker processes, each running one invocation at a time. Lambda
    never runs two invocations in one environment, and Powertools relies on that: its event handler
    keeps the current event on a class attribute. So concurrent calls go to separate processes here,
    as they go to separate environments on AWS. A worker sets the function's own environment
    variables before each call and stops it at the function's Timeout.

    Calls go to one of three pools, as each function scales on its own on AWS: `api` (requests a
    client waits on), `events` (rule targets) and `schedule` (scheduled functions: the sweeper,
    whose ReservedConcurrentExecutions is 1), so a burst of orders never queues an alert's delivery
    or a sweep behind it; within a pool, the functions take the environments in turn (TurnTaking).
    Their workers are named `ls-api`, `ls-events`, `ls-schedule`. A worker
    that dies mid-call (killed, out of memory) fails that call only, as a Lambda environment that
    dies does: the pool is replaced and the next call gets a new environment.
    """

    def __init__(
        self, functions: list[Function], workers: int, background_workers: int = 2, schedule_workers: int = 1
    ) -> None:
        self.functions = {function.logical_id: function for function in functions}
        self._function_list = functions
        self.sizes = {"api": workers, "events": background_workers, "schedule": schedule_workers}
        self._lock = threading.Lock()
        # Made at first use, with the stack's variables of then (adopt_environment).
        self._pools: dict[str, ProcessPoolExecutor] = {}
        self._turns = {pool: TurnTaking(size) for pool, size in self.sizes.items()}
        self.replaced_pools = 0
        self._warming: list[Future[int]] = []

    @property
    def workers(self) -> int:
        return self.sizes["api"]

    def _new_pool(self, pool: str) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self.sizes[pool],
            mp_context=worker_context(),
            initializer=_worker_start,
            initargs=(self._function_list, pool, dict(os.environ)),
        )

    def _pool(self, pool: str) -> ProcessPoolExecutor:
        with self._lock:
            if pool not in self._pools:
                self._pools[pool] = self._new_pool(pool)
            return self._pools[pool]

    def warm_up(self) -> None:
        """Starts every worker now rather than on the first requests of a burst."""
        self.begin_warm_up()
        self.finish_warm_up()

    def begin_warm_up(self) -> None:
        """Starts every worker without waiting for them to load the functions: the stack starts its
        other processes meanwhile."""
        self._warming = [
            self._pool(pool).submit(_worker_ready) for pool, size in self.sizes.items() for _ in range(size * 2)
        ]

    def finish_warm_up(self) -> None:
        for future in self._warming:
            future.result()
        self._warming = []

    def invoke(self, logical_id: str, event: dict[str, Any], pool: str = "api") -> Any:
        """Runs the function on the event in one of the pools (see the class)."""
        if logical_id not in self.functions:
            raise KeyError(f"the template has no function {logical_id}")
        turns = self._turns[pool]
        turns.acquire(logical_id)
        try:
            executor = self._pool(pool)
            try:
                return executor.submit(_worker_invoke, logical_id, event).result()
            except BrokenProcessPool:
                self._replace(pool, executor)
                raise
        finally:
            turns.release()

    def _replace(self, pool: str, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pools.get(pool) is not broken:
                return  # another caller replaced it already
            self._pools[pool] = self._new_pool(pool)
            self.replaced_pools += 1
        broken.shutdown(wait=False, cancel_futures=True)

    def worker_pids(self, pool: str) -> list[int]:
        return [process.pid for process in getattr(self._pools.get(pool), "_processes", {}).values()]

    def shutdown(self) -> None:
        """Stops the workers without waiting for calls in progress: a stop must not hang on them."""
        with self._lock:
            executors = list(self._pools.values())
        processes = [process for executor in executors for process in getattr(executor, "_processes", {}).values()]
        for executor in executors:
            executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
                process.join(timeout=1)
