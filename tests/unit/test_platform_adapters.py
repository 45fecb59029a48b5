"""Each adapter against its fake platform over real HTTP: the change lands, a wrong secret is
refused by the platform's signature check, the platform's rate-limit error is recognised, its
failures are told apart from its refusals, and Douyin's idempotent_id dedupes a resend."""

from collections.abc import Iterator

import pytest

from livestock.platforms.adapters import PlatformCredentials, PlatformIds, adapter_for
from livestock_local.fake_platforms import PLATFORMS, FakePlatform

IDS = PlatformIds(product_id="3001", sku_id="4001")


@pytest.fixture(params=PLATFORMS)
def fake(request: pytest.FixtureRequest) -> Iterator[FakePlatform]:
    platform = FakePlatform(request.param, qps=1000)
    platform.serve()
    platform.list_sku(IDS.product_id, IDS.sku_id, 10)
    yield platform
    platform.stop()


def test_change_applies_and_reads_back(fake: FakePlatform) -> None:
    adapter = adapter_for(fake.platform, fake.endpoint, fake.credentials)
    assert adapter.change(IDS, 5, "op-1", 15).status == "applied"
    assert fake.displayed(IDS.product_id, IDS.sku_id) == 15
    assert adapter.change(IDS, -7, "op-2", 8).status == "applied"
    assert fake.displayed(IDS.product_id, IDS.sku_id) == 8
    assert adapter.read(IDS) == 8


def test_wrong_secret_is_refused_and_changes_nothing(fake: FakePlatform) -> None:
    wrong = PlatformCredentials(
        **{**fake.credentials.model_dump(), "app_secret": "0" * 32, "secret": "1" * 64, "access_token": "stolen"}
    )
    adapter = adapter_for(fake.platform, fake.endpoint, wrong)
    assert adapter.change(IDS, 5, "op-1", 15).status == "rejected"
    assert fake.displayed(IDS.product_id, IDS.sku_id) == 10
    assert fake.stats.bad_signature == 1


def test_rate_limit_error_is_recognised(fake: FakePlatform) -> None:
    fake.bucket.rate, fake.bucket.capacity, fake.bucket.tokens = 0.001, 1, 1
    adapter = adapter_for(fake.platform, fake.endpoint, fake.credentials)
    assert adapter.change(IDS, 1, "op-1", 11).status == "applied"
    outcome = adapter.change(IDS, 1, "op-2", 12)
    assert outcome.status == "rate_limited", outcome
    assert fake.displayed(IDS.product_id, IDS.sku_id) == 11
    assert fake.stats.rate_limited == 1


def test_failure_is_retryable_and_down_is_a_failure(fake: FakePlatform) -> None:
    adapter = adapter_for(fake.platform, fake.endpoint, fake.credentials)
    fake.fail_next = 1
    assert adapter.change(IDS, 2, "op-1", 12).status == "failed"
    fake.down = True
    assert adapter.change(IDS, 2, "op-1", 12).status == "failed"
    fake.down = False
    assert adapter.change(IDS, 2, "op-1", 12).status == "applied"
    assert fake.displayed(IDS.product_id, IDS.sku_id) == 12


def test_no_answer_is_unknown() -> None:
    def dead(*_: object) -> tuple[int, bytes]:
        raise TimeoutError

    adapter = adapter_for("douyin", "http://127.0.0.1:9", PlatformCredentials(), transport=dead)
    assert adapter.change(IDS, 1, "op-1", 1).status == "unknown"


@pytest.mark.parametrize("platform", ["douyin", "webhook"])
def test_idempotent_platforms_apply_a_resend_once(platform: str) -> None:
    fake = FakePlatform(platform, qps=1000)
    endpoint = fake.serve()
    try:
        fake.list_sku(IDS.product_id, IDS.sku_id, 10)
        adapter = adapter_for(platform, endpoint, fake.credentials)
        assert adapter.idempotent
        assert adapter.change(IDS, 3, "op-same", 13).status == "applied"
        assert adapter.change(IDS, 3, "op-same", 13).status == "applied"
        assert fake.displayed(IDS.product_id, IDS.sku_id) == 13
    finally:
        fake.stop()


def test_kuaishou_reduce_below_zero_is_refused() -> None:
    fake = FakePlatform("kuaishou", qps=1000)
    endpoint = fake.serve()
    try:
        fake.list_sku(IDS.product_id, IDS.sku_id, 2)
        adapter = adapter_for("kuaishou", endpoint, fake.credentials)
        assert adapter.change(IDS, -3, "op-1", -1).status == "rejected"
        assert fake.displayed(IDS.product_id, IDS.sku_id) == 2
    finally:
        fake.stop()
