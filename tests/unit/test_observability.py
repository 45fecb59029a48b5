"""Counts reach CloudWatch as EMF where metrics are on, and pile up nowhere where they are off."""

import pytest

from livestock.observability import count_metric, metrics


@pytest.fixture(autouse=True)
def empty_metric_set() -> None:
    metrics.clear_metrics()


def test_a_count_is_added_where_metrics_are_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    count_metric("EventsPublished", 3)
    assert metrics.metric_set["EventsPublished"]["Value"] == [3.0]
    metrics.clear_metrics()


def test_a_count_is_dropped_where_metrics_are_off(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The local stack turns metrics off; `log_metrics` then flushes nothing, and Powertools would
    print the kept values once a metric had 100 of them, in the middle of a benchmark's output."""
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    for _ in range(150):
        count_metric("EventsPublished", 1)
    assert "EventsPublished" not in metrics.metric_set
    assert capsys.readouterr().out == ""
