"""The package as a user gets it: the wheel built from this tree, fresh venvs made by uv, and
commands run in them away from this checkout."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = [sys.executable, "-m", "uv"]
#: uv resolves against releases uploaded before this instant only (``--exclude-newer``), so a
#: new upstream release cannot change what a venv gets; move it forward with the ranges.
RESOLVED_BEFORE = "2026-12-04T00:00:00Z"
#: The exact versions `make` installs: a user's venv here resolves to the same releases.
CONSTRAINTS = ROOT / "requirements" / "constraints.txt"


def norm(name: str) -> str:
    """A distribution name as package indexes compare them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def run(
    args: list[str | Path], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure the assertion shows its output."""
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = f"$ {' '.join(map(str, args))}\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    assert done.returncode == 0, output
    return done


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what would point a venv back at this checkout."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PRISM_CONFIG", "DAGSTER_HOME"}
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("UV_")}
    if "UV_CACHE_DIR" in os.environ:  # share whatever cache the caller chose
        env["UV_CACHE_DIR"] = os.environ["UV_CACHE_DIR"]
    return {**env, **extra}


@dataclass(frozen=True)
class Dist:
    """The release files of this tree."""

    wheel: Path
    sdist: Path
    requires: dict[str, str]  # runtime requirement name -> its specifier, from the wheel


def build_dist(out: Path) -> Dist:
    """The sdist of this tree, and the wheel built from that sdist (as a release is built)."""
    run([*UV, "build", "--no-progress", "--out-dir", out, ROOT], cwd=out, env=clean_env())
    (wheel,) = out.glob("prism_dagster-*.whl")
    (sdist,) = out.glob("prism_dagster-*.tar.gz")
    with zipfile.ZipFile(wheel) as zf:
        (meta,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(zf.read(meta).decode())
    requires = {}
    for line in metadata.get_all("Requires-Dist") or []:
        if ";" in line:  # an extra's requirement
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)\s*(.*)", line)
        assert match, line
        requires[norm(match.group(1))] = match.group(2)
    return Dist(wheel, sdist, requires)


def make_venv(where: Path, *requirements: str | Path, extra: list[str | Path] = ()) -> Path:
    """A fresh venv at ``where`` holding ``requirements`` (uv); its ``bin`` folder."""
    env = clean_env()
    run([*UV, "venv", "--no-project", "--python", sys.executable, where], cwd=where.parent, env=env)
    python = where / "bin" / "python"
    install = [*UV, "pip", "install", "--no-progress", "--python", python]
    run([*install, "--exclude-newer", RESOLVED_BEFORE, *extra, *requirements], where.parent, env)
    return where / "bin"
