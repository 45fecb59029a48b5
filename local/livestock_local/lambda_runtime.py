"""Loads handlers from their CodeUri and calls them in-process, as the Lambda service would."""

import importlib.util
import multiprocessing
import os
import threading
import time
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

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

    def __init__(self, function: Function) -> None:
        self.function = function
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
            return handler(event, LocalContext(self.function.logical_id))
        finally:
            with self._lock:
                self._idle.append(environment)


_worker_functions: dict[str, LocalLambda] = {}


def _worker_start(functions: list[Function]) -> None:
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    for function in functions:
        _worker_functions[function.logical_id] = LocalLambda(function)


def _worker_invoke(logical_id: str, event: dict[str, Any]) -> Any:
    return _worker_functions[logical_id].invoke(event)


def _worker_ready() -> int:
    return os.getpid()


class FunctionPool:
    """Execution environments as worker processes, each running one invocation at a time.

    Lambda never runs two invocations in one environment, and Powertools relies on that: its
    event handler keeps the current event on a class attribute. So concurrent API calls go to
    separate processes here, as they go to separate environments on AWS.
    """

    def __init__(self, functions: list[Function], workers: int) -> None:
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(functions,),
        )

    def warm_up(self) -> None:
        """Starts every worker now rather than on the first requests of a burst."""
        futures = [self._executor.submit(_worker_ready) for _ in range(self.workers * 2)]
        for future in futures:
            future.result()

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        return self._executor.submit(_worker_invoke, logical_id, event).result()

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
