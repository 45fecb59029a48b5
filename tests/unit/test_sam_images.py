"""The layer images given to `sam local`: the layers SAM would add, in its order, built once per content."""

import io
import os
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from livestock_local import sam_images
from livestock_local.template import load

TEMPLATE: dict[str, Any] = {
    "Globals": {"Function": {"Runtime": "python3.13", "Layers": [{"Ref": "Core"}]}},
    "Resources": {
        "Core": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "Core"}},
        "Charts": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": "Charts"}},
        "Api": {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "Api"}},
        "Review": {"Type": "AWS::Serverless::Function", "Properties": {"Layers": [{"Ref": "Charts"}]}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
    },
}


def test_each_function_gets_the_globals_layers_then_its_own() -> None:
    assert sam_images.layer_sets(TEMPLATE) == {"Api": ("Core",), "Review": ("Core", "Charts")}


def test_the_project_template_gives_every_function_the_livestock_layer() -> None:
    sets = sam_images.layer_sets(load())
    assert sets and all(layers[0] == "LiveStockLayer" for layers in sets.values())
    assert sets["ReviewBuilderFunction"] == ("LiveStockLayer", "ReviewChartsLayer")


def test_a_layer_given_by_arn_is_refused_with_its_value() -> None:
    template = {"Resources": {"Api": {"Type": "AWS::Serverless::Function", "Properties": {"Layers": ["arn:x"]}}}}
    with pytest.raises(sam_images.LayerImageError, match="arn:x"):
        sam_images.layer_sets(template)


def test_the_template_given_to_sam_declares_no_layer_and_is_otherwise_the_same() -> None:
    stripped = sam_images.without_layers(TEMPLATE)
    assert "Layers" not in stripped["Globals"]["Function"]
    assert all("Layers" not in r["Properties"] for r in stripped["Resources"].values())
    assert stripped["Resources"]["Api"]["Properties"] == {"CodeUri": "Api"}
    assert stripped["Resources"]["Core"] == TEMPLATE["Resources"]["Core"]
    assert TEMPLATE["Globals"]["Function"]["Layers"] == [{"Ref": "Core"}], "the original is left as it was"


def test_the_dockerfile_adds_the_layers_as_sam_does() -> None:
    assert sam_images.dockerfile("base:1", ("Core", "Charts")).splitlines() == [
        "FROM base:1",
        "ADD Core /opt",
        "ADD Charts /tmp/layer1",
        "RUN cp -rf /tmp/layer1/. /opt/ && rm -rf /tmp/layer1",
    ]


def test_the_digest_follows_the_content_the_dockerfile_and_the_base_image(tmp_path: Path) -> None:
    layer = tmp_path / "Core"
    (layer / "python").mkdir(parents=True)
    module = layer / "python" / "core.py"
    module.write_text("A = 1\n")

    def digest(base: str = "sha256:base", file: str = "FROM base\n") -> str:
        return sam_images.content_digest(base, file, {"Core": layer})

    first = digest()
    assert digest() == first
    assert digest(base="sha256:other") != first
    assert digest(file="FROM base\nADD Core /opt\n") != first
    module.write_text("A = 22\n")
    second = digest()
    assert second != first
    os.utime(module, ns=(1, 1))  # a file rewritten with the same size: `sam build` does that
    third = digest()
    assert third not in {first, second}
    module.chmod(0o755)
    assert digest() != third


def test_the_digest_follows_a_symlinked_folder_as_the_build_context_does(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "util.py").write_text("B = 1\n")
    layer = tmp_path / "Core"
    layer.mkdir()
    (layer / "linked").symlink_to(shared, target_is_directory=True)
    before = sam_images.content_digest("sha256:base", "FROM base\n", {"Core": layer})
    (shared / "util.py").write_text("B = 22\n")
    assert sam_images.content_digest("sha256:base", "FROM base\n", {"Core": layer}) != before


def test_a_layer_that_is_not_a_layerversion_of_the_template_is_refused(tmp_path: Path) -> None:
    built = tmp_path / "template.yaml"
    built.write_text(
        yaml.safe_dump({"Resources": {"Fn": {"Type": sam_images.FUNCTION, "Properties": {"Layers": [{"Ref": "Arn"}]}}}})
    )
    with pytest.raises(sam_images.LayerImageError, match="Fn: Arn is not a LayerVersion"):
        sam_images.prepare(built, "base")


def test_each_layer_set_and_content_has_its_own_repository() -> None:
    # SAM names its emulator image after the repository: two images in one repository would share it.
    names = {
        sam_images.image_name(("Core",), "aaaa"),
        sam_images.image_name(("Core",), "bbbb"),
        sam_images.image_name(("Core", "Charts"), "aaaa"),
    }
    assert len({name.rsplit(":", 1)[0] for name in names}) == 3
    assert all(name == name.lower() for name in names), "Docker repositories are lower case"


def test_the_build_context_holds_the_dockerfile_and_each_layer_by_name(tmp_path: Path) -> None:
    for name in ("Core", "Charts"):
        (tmp_path / name / "python").mkdir(parents=True)
        (tmp_path / name / "python" / f"{name.lower()}.py").write_text(name)
    context = sam_images.build_context({n: tmp_path / n for n in ("Core", "Charts")}, "FROM base\n")
    with tarfile.open(fileobj=io.BytesIO(context)) as archive:
        names = set(archive.getnames())
        dockerfile = archive.extractfile("Dockerfile")
        assert dockerfile is not None and dockerfile.read() == b"FROM base\n"
    assert {"Core/python/core.py", "Charts/python/charts.py"} <= names


def test_a_new_build_removes_older_content_of_its_own_layer_set_only(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = sam_images.image_name(("Core",), "new0")
    images = [
        kept,
        kept.replace(":latest", ":rapid-x86_64"),
        sam_images.image_name(("Core",), "old0"),
        sam_images.image_name(("Core",), "old0").replace(":latest", ":rapid-x86_64"),
        sam_images.image_name(("Core", "Charts"), "any0"),  # another set, whose name starts alike
    ]
    removed: list[str] = []

    def docker(*args: str, **_: Any) -> Any:
        if args[:2] == ("image", "ls"):
            return type("Listed", (), {"stdout": "\n".join(images).encode()})()
        assert args[:2] == ("image", "rm")
        assert "--force" not in args, "an image a running container uses must be kept"
        removed.extend(args[2:])
        return None

    monkeypatch.setattr(sam_images, "_docker", docker)
    sam_images._remove_older(kept)
    assert removed == [images[3], images[2]], "SAM's emulator image (built on ours) first"
