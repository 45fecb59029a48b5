"""The layer `sam build` makes installs layers/livestock/requirements.txt, not the package's own
dependencies: a dependency listed in one and not the other imports fine in tests and fails on
Lambda (`No module named 'pydantic_settings'` was found that way, by `sam local invoke`)."""

import tomllib

from packaging.requirements import Requirement

from livestock_local.template import ROOT

LAYER = ROOT / "layers" / "livestock"


def _pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[requirement.name.lower().replace("_", "-")] = str(requirement.specifier)
    return found


def test_the_layer_installs_every_dependency_of_the_package_at_the_same_pin() -> None:
    package = tomllib.loads((LAYER / "pyproject.toml").read_text())["project"]["dependencies"]
    layer = (LAYER / "requirements.txt").read_text().splitlines()
    assert _pins(layer) == _pins(package)
