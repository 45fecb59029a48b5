"""The functions' layers, built into an image once per layer set and content, for `sam local`.

`sam local` rebuilds a function's image whenever the template defines its layers: an image build
(a 74 MB tar sent to Docker) for each of the 19 functions that `start-lambda --warm-containers
EAGER` starts, and again for every `sam local invoke`. Here the same image is built once: the Lambda
base image with each layer added under /opt, in the template's order, as SAM's own Dockerfile adds
them. `sam local` is then given a template without `Layers` and each function's image through
`--invoke-image Function=image`; it adds only its runtime interface emulator, once per image.
"""

import copy
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import yaml

IMAGE_REPOSITORY = "livestock-sam-local"
FUNCTION = "AWS::Serverless::Function"
LAYER_VERSION = "AWS::Serverless::LayerVersion"
LAYERS_DIR = "/opt"


class LayerImageError(RuntimeError):
    """An image of the layers could not be built."""


def layer_sets(template: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """Each function's layers (logical ids), as SAM merges them: the Globals' list, then its own."""
    global_layers = template.get("Globals", {}).get("Function", {}).get("Layers", [])
    found = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] == FUNCTION:
            listed = [*global_layers, *resource["Properties"].get("Layers", [])]
            found[logical_id] = tuple(_layer_id(entry) for entry in listed)
    return found


def _layer_id(entry: Any) -> str:
    if isinstance(entry, dict) and set(entry) == {"Ref"}:
        return str(entry["Ref"])
    raise LayerImageError(f"a layer that is not a Ref to the template's own LayerVersion: {entry!r}")


def without_layers(template: dict[str, Any]) -> dict[str, Any]:
    """The template with no function declaring a layer (the layers are in the functions' images)."""
    stripped = copy.deepcopy(template)
    stripped.get("Globals", {}).get("Function", {}).pop("Layers", None)
    for resource in stripped["Resources"].values():
        if resource["Type"] == FUNCTION:
            resource["Properties"].pop("Layers", None)
    return stripped


def dockerfile(base_image: str, layers: tuple[str, ...]) -> str:
    """SAM's Dockerfile for a function's layers (samcli.local.docker.lambda_image), without the
    emulator it adds itself: the first layer under /opt, each next one copied over it."""
    lines = [f"FROM {base_image}"]
    for index, layer in enumerate(layers):
        if index == 0:
            lines.append(f"ADD {layer} {LAYERS_DIR}")
        else:
            staged = f"/tmp/layer{index}"  # noqa: S108 - inside the image being built, as SAM stages it
            lines += [f"ADD {layer} {staged}", f"RUN cp -rf {staged}/. {LAYERS_DIR}/ && rm -rf {staged}"]
    return "\n".join(lines) + "\n"


def content_digest(base_image_id: str, file: str, layers: dict[str, Path]) -> str:
    """Changes with the base image, the Dockerfile, and any layer file's path, size, mode or
    modification time (symlinked folders followed, as the build context follows them)."""
    digest = hashlib.sha256(f"{base_image_id}\0{file}".encode())
    for name, directory in layers.items():
        digest.update(f"\0layer {name}".encode())
        for path in sorted(_files(directory)):
            stat = path.stat()
            digest.update(
                f"\0{path.relative_to(directory)}\0{stat.st_size}\0{stat.st_mode}\0{stat.st_mtime_ns}".encode()
            )
    return digest.hexdigest()[:16]


def _files(directory: Path) -> list[Path]:
    return [Path(root) / name for root, _, names in os.walk(directory, followlinks=True) for name in names]


def image_name(layers: tuple[str, ...], digest: str) -> str:
    """A repository per layer set and content: SAM names the image it adds its emulator to after the
    repository alone (`<repository>:rapid-x86_64`), so two images must not share one."""
    return f"{IMAGE_REPOSITORY}/{'-'.join(layers).lower()}-{digest}:latest"


def build_context(layers: dict[str, Path], file: str) -> bytes:
    """The tar that `docker build -` reads: the Dockerfile and each layer's folder by its name."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", dereference=True) as archive:
        data = file.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        for name, directory in layers.items():
            archive.add(directory, arcname=name, recursive=True)
    return buffer.getvalue()


def _docker(*args: str, stdin: bytes | None = None, timeout_s: float = 60) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["docker", *args], input=stdin, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise LayerImageError(f"docker {args[0]} {args[1]} took over {timeout_s:g} s") from None


def _image_id(image: str) -> str | None:
    inspected = _docker("image", "inspect", "--format", "{{.Id}}", image)
    return inspected.stdout.decode().strip() if inspected.returncode == 0 else None


def ensure_image(base_image: str, base_image_id: str, layers: tuple[str, ...], directories: dict[str, Path]) -> str:
    """The image of these layers over the base image; built only when no image of this content exists."""
    chosen = {layer: directories[layer] for layer in layers}
    file = dockerfile(base_image, layers)
    name = image_name(layers, content_digest(base_image_id, file, chosen))
    if _image_id(name) is not None:
        return name
    context = build_context(chosen, file)
    built = _docker("build", "--quiet", "--tag", name, "-", stdin=context, timeout_s=600)
    if built.returncode != 0:
        raise LayerImageError(f"docker build of {name} failed: {built.stderr.decode()[-2000:]}")
    _remove_older(name)
    return name


def _remove_older(kept: str) -> None:
    """Images of the same layer set with other content, and the emulator images SAM made from them."""
    repository = kept.rsplit(":", 1)[0]
    listed = _docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}}", f"{IMAGE_REPOSITORY}/*")
    stale = [
        name
        for name in listed.stdout.decode().split()
        if _layer_set_of(name) == _layer_set_of(kept) and not name.startswith(repository + ":")
    ]
    # SAM's emulator images first (they are built on ours); without --force, Docker keeps an image
    # a container (another `sam local` still running) uses, and that is as it should be.
    for name in sorted(stale, key=lambda image: not image.endswith(":rapid-x86_64")):
        _docker("image", "rm", name, timeout_s=120)


def _layer_set_of(image: str) -> str:
    """`livestock-sam-local/a-b-<digest>:tag` -> `livestock-sam-local/a-b`."""
    return image.rsplit(":", 1)[0].rsplit("-", 1)[0]


def prepare(built_template: Path, base_image: str) -> tuple[Path, dict[str, str]]:
    """Writes the layer-less template beside the built one (its CodeUri paths are relative to that
    folder) and returns it with each function's image."""
    template = yaml.safe_load(built_template.read_text())
    directories = {
        logical_id: built_template.parent / str(resource["Properties"]["ContentUri"])
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == LAYER_VERSION
    }
    sets = layer_sets(template)
    for function, layers in sets.items():
        unknown = [layer for layer in layers if layer not in directories]
        if unknown:
            raise LayerImageError(f"{function}: {', '.join(unknown)} is not a LayerVersion of the template")
    images: dict[str, str] = {}
    if any(sets.values()):
        base_image_id = _image_id(base_image)
        if base_image_id is None:
            raise LayerImageError(f"the base image {base_image} is missing")
        by_set = {
            layers: ensure_image(base_image, base_image_id, layers, directories)
            for layers in dict.fromkeys(sets.values())
            if layers
        }
        images = {function: by_set[layers] for function, layers in sets.items() if layers}
    local_template = built_template.with_name("template.sam-local.yaml")
    # Replaced whole: another `sam local` may be reading the one in place.
    partial = local_template.with_suffix(".partial")
    partial.write_text(yaml.safe_dump(without_layers(template), sort_keys=False))
    os.replace(partial, local_template)
    return local_template, images
