"""A handler for the invoker's own tests: it reports its environment and sleeps when asked."""

import os
import time
from typing import Any


def sleep_then_echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event["sleep_s"]))
    return {"greeting": os.environ.get("GREETING")}
