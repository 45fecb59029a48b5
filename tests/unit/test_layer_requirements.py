"""The layers `sam build` makes install each layer's requirements.txt, not the package's own
dependencies: a dependency listed in one and not the other imports fine in tests and fails on
Lambda (`No module named 'pydantic_settings'` was found that way, by `sam local invoke`).

LiveStockLayer carries the package's dependencies; ReviewChartsLayer its `review` extra (jinja2
and matplotlib), on the review builder alone. So no other function may import those at load."""

import importlib.util
import subprocess
import sys
import tomllib

from packaging.requirements import Requirement

from livestock_local.template import ROOT, load

LAYERS = ROOT / "layers"
CHARTS_LAYER = "ReviewChartsLayer"
CHARTS_MODULES = ("jinja2", "matplotlib", "numpy")


def _pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        text = line.split("#", 1)[0].strip()
        if text:
            requirement = Requirement(text)
            found[requirement.name.lower().replace("_", "-")] = str(requirement.specifier)
    return found


def _package() -> dict[str, object]:
    project: dict[str, object] = tomllib.loads((LAYERS / "livestock" / "pyproject.toml").read_text())["project"]
    return project


def test_the_layer_installs_every_dependency_of_the_package_at_the_same_pin() -> None:
    layer = (LAYERS / "livestock" / "requirements.txt").read_text().splitlines()
    assert _pins(layer) == _pins(list(_package()["dependencies"]))  # type: ignore[call-overload]


def test_the_charts_layer_installs_the_review_extra_at_the_same_pin() -> None:
    layer = (LAYERS / "review_charts" / "requirements.txt").read_text().splitlines()
    extras: dict[str, list[str]] = _package()["optional-dependencies"]  # type: ignore[assignment]
    assert _pins(layer) == _pins(extras["review"])


def _charts_functions() -> dict[str, str]:
    """Logical id -> CodeUri of each function whose own Layers add the charts layer."""
    found = {}
    for logical_id, resource in load()["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and {"Ref": CHARTS_LAYER} in properties.get("Layers", []):
            found[logical_id] = properties["CodeUri"]
    return found


def test_only_the_review_builder_carries_the_charts_layer() -> None:
    assert _charts_functions() == {"ReviewBuilderFunction": "functions/review_builder/"}


def test_no_other_function_imports_the_charts_modules_when_it_loads() -> None:
    """Every other function's handler module loads with jinja2, matplotlib and numpy unimportable,
    as on Lambda without the charts layer (one interpreter, each module under a name of its own)."""
    charts = set(_charts_functions().values())
    apps = [
        path for path in sorted((ROOT / "functions").glob("*/app.py")) if f"functions/{path.parent.name}/" not in charts
    ]
    assert len(apps) > 10
    script = "\n".join(
        [
            "import importlib.util, sys",
            *(f"sys.modules[{name!r}] = None" for name in CHARTS_MODULES),
            "for index, path in enumerate(sys.argv[1:]):",
            "    spec = importlib.util.spec_from_file_location(f'app_{index}', path)",
            "    module = importlib.util.module_from_spec(spec)",
            "    sys.path.insert(0, path.rsplit('/', 1)[0])",
            "    spec.loader.exec_module(module)",
            "    sys.path.pop(0)",
            "    print('loaded', path)",
        ]
    )
    ran = subprocess.run(
        [sys.executable, "-c", script, *map(str, apps)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.count("loaded ") == len(apps)
    assert importlib.util.find_spec("jinja2") is not None  # the dev venv has the extra: the blocking did the work
