"""Waiting for a part of the local stack to go quiet."""

import time
from collections.abc import Callable


def wait_until_quiet(idle: Callable[[], bool], timeout_s: float, quiet_s: float, what: str) -> None:
    """Returns once `idle()` has held for `quiet_s` on end; raises TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if idle():
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= quiet_s:
                return
        else:
            quiet_since = None
        time.sleep(0.05)
    raise TimeoutError(what)
