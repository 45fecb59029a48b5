from collections.abc import Iterator

import pytest

from livestock.api import services
from livestock.dal.repository import InventoryRepository
from livestock_local.dynamodb_local import free_port
from livestock_local.stack import LocalStack
from tests.support.api import Api

API_KEY = "test-key"
# Short windows so that expiry and crash settlement can be watched in a test.
STACK_ENVIRONMENT = {"SETTLE_WINDOW_S": "2", "REPLAY_WAIT_S": "3", "META_CACHE_S": "0.2"}


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    dead_letters = tmp_path_factory.mktemp("stack") / "stream-dead-letters.jsonl"
    local = LocalStack(
        port=free_port(),
        api_key=API_KEY,
        sweep_period_s=0.5,
        environment=STACK_ENVIRONMENT,
        api_workers=4,
        dead_letter_path=dead_letters,
    )
    local.start()
    services.reset()
    yield local
    local.stop()
    assert not dead_letters.exists(), f"stream records were dead-lettered: {dead_letters.read_text()[:2000]}"


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Api:
    return Api(stack.url, API_KEY)


@pytest.fixture
def repository(stack: LocalStack) -> InventoryRepository:
    return services.repository()
