"""environment.yml (for conda users) must list the same dependencies as pyproject.toml."""

from __future__ import annotations

import re
import tomllib

import yaml

from alliance_study.data import paths

#: Entries of environment.yml that are tooling, not package dependencies.
CONDA_ONLY = {"python", "pip"}

_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")


def _parse(req: str) -> tuple[str, str]:
    match = _REQ.match(req)
    assert match, req
    name = match.group(1).lower().replace("_", "-")
    spec = ",".join(sorted(s.replace(" ", "") for s in match.group(2).split(",") if s.strip()))
    return name, spec


def pyproject_requirements() -> dict[str, str]:
    data = tomllib.loads((paths.PROJECT_ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in data["project"]["optional-dependencies"].values():
        reqs.extend(extra)
    return dict(_parse(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((paths.PROJECT_ROOT / "environment.yml").read_text())
    out: dict[str, str] = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item.startswith("."):
                continue
            name, spec = _parse(item)
            if name not in CONDA_ONLY:
                out[name] = spec
    return out


def test_environment_lists_same_dependencies_as_pyproject():
    py = pyproject_requirements()
    env = environment_requirements()
    assert sorted(set(py) - set(env)) == [], "in pyproject.toml but not environment.yml"
    assert sorted(set(env) - set(py)) == [], "in environment.yml but not pyproject.toml"
    differing = {n: (py[n], env[n]) for n in py if py[n] != env[n]}
    assert differing == {}, f"version specifiers differ (pyproject, environment): {differing}"


def test_constraints_pin_every_dependency():
    pinned = {}
    for line in (paths.PROJECT_ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pinned[name.lower().replace("_", "-")] = version
    missing = sorted(set(pyproject_requirements()) - set(pinned))
    assert missing == [], f"constraints.txt does not pin {missing}"


def test_environment_check_catches_a_mismatch():
    """The comparison itself must be able to fail."""
    assert _parse("pandas >= 2.2") == ("pandas", ">=2.2")
    assert _parse("jupyter-book>=1.0,<2") == _parse("jupyter_book <2, >=1.0")
    assert _parse("numpy>=2.0") != _parse("numpy>=1.26")
