"""The code location loads the way `dagster dev` loads it: from workspace.yaml and pyproject."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _validate(args: list[str], cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    dagster = shutil.which("dagster")
    if dagster is None:
        pytest.fail("the dagster command is not on PATH; run the suite with `make test`")
    env = {**os.environ, "PRISM_CONFIG": str(config)}
    env.pop("DAGSTER_HOME", None)
    return subprocess.run(
        [dagster, "definitions", "validate", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "prism.yaml"
    integration = {"name": "prod", "provider": "local", "path": str(tmp_path / "a")}
    integration["start"] = "2026-03-01T00"
    path.write_text(
        yaml.safe_dump(
            {"source": {"kind": "spool", "path": str(tmp_path)}, "integrations": [integration]}
        )
    )
    return path


def test_workspace_yaml_loads_the_code_location(config: Path, tmp_path: Path) -> None:
    out = _validate(["-w", str(REPO / "workspace.yaml")], tmp_path, config)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful for code location prism_dagster" in out.stdout + out.stderr


def test_pyproject_dagster_section_loads_the_same_module(config: Path) -> None:
    out = _validate([], REPO, config)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Validation successful for code location prism_dagster" in out.stdout + out.stderr


def test_a_broken_config_fails_the_load_with_its_reason(tmp_path: Path) -> None:
    bad = tmp_path / "prism.yaml"
    bad.write_text("source: {kind: spool, path: s}\nintegrations: []\n")
    out = _validate(["-w", str(REPO / "workspace.yaml")], tmp_path, bad)
    assert out.returncode != 0
    assert "field 'integrations'" in out.stdout + out.stderr


def test_loading_the_code_location_prints_no_beta_warning(config: Path, tmp_path: Path) -> None:
    # -W default shows every warning once, as Dagster's own processes do.
    env = {**os.environ, "PRISM_CONFIG": str(config)}
    loaded = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import prism_dagster.definitions"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert "BetaWarning" not in loaded.stderr, loaded.stderr
