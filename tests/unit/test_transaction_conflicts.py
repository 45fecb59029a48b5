"""A transaction cancelled only by a conflict is tried again; one that outlasts the tries is raised,
never taken for a refused condition (a confirm or a give-back silently dropped)."""

from typing import Any

import pytest
from botocore.exceptions import ClientError

from livestock import keys
from livestock.dal.expressions import Store, Transaction, TransactionRefused, Update


def cancelled(*reasons: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
            "CancellationReasons": [{"Code": reason} for reason in reasons],
        },
        "TransactWriteItems",
    )


class Client:
    """Answers each transaction with the next error of `answers` (None: written)."""

    def __init__(self, *answers: ClientError | None) -> None:
        self.answers = list(answers)
        self.calls = 0

    def transact_write_items(self, **_: Any) -> dict[str, Any]:
        self.calls += 1
        answer = self.answers.pop(0) if self.answers else None
        if answer is not None:
            raise answer
        return {}


def transaction() -> Transaction:
    return (
        Transaction("t")
        .update("hold", Update(keys.hold_pk("h_1"), keys.HOLD_SK).set(status="confirmed"))
        .update("counter", Update(keys.sku_pk("s"), keys.COUNT_SK).add(sold=1))
    )


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("livestock.dal.expressions.time.sleep", lambda _: None)


def test_a_conflict_is_tried_again_and_then_written() -> None:
    client = Client(cancelled("None", "TransactionConflict"), cancelled("TransactionConflict", "None"))
    store = Store("t", client)  # type: ignore[arg-type]
    assert store.transact_if(transaction()) is True
    assert client.calls == 3


def test_a_conflict_that_outlasts_the_tries_is_raised_not_taken_for_a_refusal() -> None:
    client = Client(*[cancelled("TransactionConflict", "None")] * 10)
    store = Store("t", client)  # type: ignore[arg-type]
    with pytest.raises(TransactionRefused) as raised:
        store.transact_if(transaction())
    assert raised.value.refused == frozenset()
    assert client.calls == 4, "the first try and three more"


def test_a_refused_condition_is_an_answer_at_once() -> None:
    client = Client(cancelled("ConditionalCheckFailed", "None"))
    store = Store("t", client)  # type: ignore[arg-type]
    assert store.transact_if(transaction()) is False
    assert client.calls == 1
