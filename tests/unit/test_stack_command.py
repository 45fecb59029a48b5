"""`python -m livestock_local.stack`'s own arguments, read before anything starts."""

import json
from pathlib import Path

import pytest

from livestock_local.stack import function_variables, main


def test_env_vars_give_every_function_the_parameters_as_strings(tmp_path: Path) -> None:
    path = tmp_path / "env.json"
    path.write_text(json.dumps({"Parameters": {"SETTLE_WINDOW_S": 4, "REPLAY_WAIT_S": "3"}}))
    assert function_variables(path) == {"SETTLE_WINDOW_S": "4", "REPLAY_WAIT_S": "3"}


@pytest.mark.parametrize(
    "document",
    [
        {"StreamConsumerFunction": {"SETTLE_WINDOW_S": "4"}},
        {"Parameters": {"A": "1"}, "HoldsApiFunction": {"B": "2"}},
        {"Parameters": ["SETTLE_WINDOW_S=4"]},
        ["Parameters"],
    ],
)
def test_env_vars_it_would_not_apply_are_refused(tmp_path: Path, document: object) -> None:
    path = tmp_path / "env.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="Parameters"):
        function_variables(path)


@pytest.mark.parametrize("text", ["{not json", None])
def test_a_bad_or_missing_env_vars_file_stops_the_command_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None
) -> None:
    path = tmp_path / "env.json"
    if text is not None:
        path.write_text(text)
    assert main(["--env-vars", str(path), "--state-dir", str(tmp_path / "state")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("livestock: cannot read the template or the variables:"), error
    assert not (tmp_path / "state").exists()
