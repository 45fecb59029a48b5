"""The local invoker's environments are handed out function by function in turn: a backlog of one
function's calls does not delay another function's call (as on AWS, where each scales on its own)."""

import threading

from livestock_local.lambda_runtime import TurnTaking
from livestock_local.waiting import wait_until_quiet


def test_a_backlog_of_one_function_does_not_delay_another() -> None:
    turns = TurnTaking(1)
    turns.acquire("sync")  # the one environment is busy
    served: list[str] = []

    def call(function: str, number: int) -> None:
        turns.acquire(function)
        served.append(f"{function}{number}")

    threads = []
    for number, function in enumerate(["sync", "sync", "sync", "webhook"]):
        thread = threading.Thread(target=call, args=(function, number))
        thread.start()
        threads.append(thread)
        queued = number + 1
        wait_until_quiet(lambda: turns.waiting == queued, 10, 0, "the call did not queue")  # noqa: B023
    for count in range(1, 5):
        turns.release()
        wait_until_quiet(lambda: len(served) == count, 10, 0, "nobody was served")  # noqa: B023
    for thread in threads:
        thread.join(10)
    assert served == ["sync0", "webhook3", "sync1", "sync2"]
    turns.release()
    turns.acquire("webhook")  # free again: taken at once
    assert turns.waiting == 0


def test_environments_free_with_nobody_waiting_are_taken_at_once() -> None:
    turns = TurnTaking(2)
    turns.acquire("a")
    turns.acquire("b")
    turns.release()
    turns.acquire("c")
    assert turns.waiting == 0
