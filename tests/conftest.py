"""Shared fixtures. Unit tests run on moto; integration and e2e tests on a local stack (DynamoDB
Local, the real engine) that one session fixture per test process starts and stops."""

import os
import uuid
from collections.abc import Iterator

import pytest

from livestock import wiring
from livestock_local.dynamodb_local import free_port
from livestock_local.stack import LocalStack
from tests.support.api import Api

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "livestock")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "LiveStock")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
# The fake platforms and webhook receivers of the tests listen on 127.0.0.1 (platforms/endpoints.py).
os.environ.setdefault("ALLOW_LOOPBACK_ENDPOINTS", "true")
# The test stacks live minutes, not hours: DynamoDB Local's JVM without its optimising compiler
# (C2) takes about half the CPU for the same burst on 2 cores (README, "The test suite").
os.environ.setdefault("LIVESTOCK_JVM_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")


@pytest.fixture
def sku_id() -> str:
    return f"sku-{uuid.uuid4().hex[:10]}"


API_KEY = "test-key"
# A stalled request is answered 408 after this long (the stack's default is 10 s).
REQUEST_DEADLINE_S = 2.0
# Short windows so that expiry and crash settlement can be watched in a test.
STACK_ENVIRONMENT = {"SETTLE_WINDOW_S": "4", "REPLAY_WAIT_S": "3", "META_CACHE_S": "0.2"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    state_dir = tmp_path_factory.mktemp("stack")
    dead_letters = state_dir / "stream-dead-letters.jsonl"
    local = LocalStack(
        state_dir=state_dir,
        port=free_port(),
        api_key=API_KEY,
        sweep_period_s=0.5,
        environment=STACK_ENVIRONMENT,
        api_workers=4,
        dead_letter_path=dead_letters,
        request_deadline_s=REQUEST_DEADLINE_S,
    )
    local.start()
    wiring.reset()
    yield local
    local.stop()
    assert not dead_letters.exists(), f"stream records were dead-lettered: {dead_letters.read_text()[:2000]}"
    denied = local.iam_denials
    assert not denied.exists(), f"calls template.yaml's policies do not allow: {denied.read_text()[:2000]}"


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Api:
    return Api(stack.url, API_KEY)
