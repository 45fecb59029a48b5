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
def stack() -> Iterator[LocalStack]:
    local = LocalStack(port=free_port(), api_key=API_KEY, sweep_period_s=0.5, environment=STACK_ENVIRONMENT)
    local.start()
    services.reset()
    yield local
    local.stop()


@pytest.fixture(scope="session")
def api(stack: LocalStack) -> Api:
    return Api(stack.url, API_KEY)


@pytest.fixture
def repository(stack: LocalStack) -> InventoryRepository:
    return services.repository()
