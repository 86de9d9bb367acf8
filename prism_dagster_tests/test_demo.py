"""`prism-dagster demo` when its run fails: the operator's sentence, and the status records it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from prism_dagster.config.defaults import default_yaml


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("prism-dagster")
    env = {k: v for k, v in os.environ.items() if k not in ("PRISM_CONFIG", "DAGSTER_HOME")}
    return subprocess.run(
        [command, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_a_failed_demo_says_why_in_one_line_and_leaves_the_integration_in_error(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the archive folder should be")
    text = default_yaml().replace(f"path: {Path('.prism') / 'archive'}", f"path: {blocker}")
    assert str(blocker) in text
    (tmp_path / "prism.yaml").write_text(text)

    failed = _cli("demo", "--rate", "50", cwd=tmp_path)
    assert failed.returncode == 1, failed.stderr
    [line] = failed.stderr.strip().splitlines()  # one line: no Dagster traceback
    assert line.startswith("prism-dagster: local_demo: the demo's run "), line
    assert str(blocker) in line
    assert "Telemetry" not in failed.stdout + failed.stderr  # the demo's instance has it off

    status = _cli("status", "--json", cwd=tmp_path)
    [state] = json.loads(status.stdout)
    assert state["status"] == "Error", state
    assert str(blocker) in state["last_error"]
    assert state["error_cause"] != "unknown"  # the cause, named as the run's failure names it
