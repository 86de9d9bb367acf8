"""The prism-dagster command, end to end, as a new user runs it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import yaml

from prism_dagster_tests.support.archive_reader import read_archive_lines, tree_bytes
from prism_dagster_tests.support.cli import prism


def test_demo_end_to_end_twice_gives_the_same_files(tmp_path: Path) -> None:
    first = prism("demo", "--rate", "200", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    config = yaml.safe_load((tmp_path / "prism.yaml").read_text())
    assert config["integrations"][0]["provider"] == "local"
    archive = tmp_path / ".prism" / "archive"
    files = read_archive_lines(archive)
    rows = sum(len(lines) for lines in files.values())
    manifests = list(archive.rglob("_manifest.json"))
    assert rows > 0 and len(manifests) >= 18  # about one hour in eight is quiet
    assert sum(json.loads(m.read_text())["total_rows"] for m in manifests) == rows
    summary = first.stdout.strip().splitlines()[0]
    assert summary.startswith("local_demo: archived 24 hours") and f"{rows} rows" in summary
    assert str(archive) in summary
    # The demo's runs ran in process, where no run-status sensor sees them: status is true all
    # the same, with the newest hour archived (the hour before the newest manifest's or later).
    status = prism("status", "--json", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    [state] = json.loads(status.stdout)
    logs = archive / "prism" / "demo" / "logs"
    newest = max(m.parent.relative_to(logs).as_posix() for m in manifests)  # YYYY/MM/DD/hour=HH
    assert state["status"] == "Active" and state["last_success"] is not None
    last = datetime.strptime(state["last_archived_hour"], "%Y-%m-%dT%H:%MZ")
    assert last.strftime("%Y/%m/%d/hour=%H") >= newest
    before = tree_bytes(archive)
    second = prism("demo", "--rate", "200", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    after = tree_bytes(archive)
    # Same hours give byte-identical objects; if the clock crossed an hour, only the new
    # hour is added and the hour that left the window keeps its files.
    assert {k: v for k, v in after.items() if k in before} == {
        k: v for k, v in before.items() if k in after
    }
    assert len(set(after) ^ set(before)) <= 4
    runs = list((tmp_path / ".prism" / "dagster_home").rglob("*.db"))
    assert runs, "the demo's runs are kept for the Dagster UI"


def test_simulate_writes_a_spool_and_reports(tmp_path: Path) -> None:
    out = prism(
        "simulate",
        "--spool",
        "sp",
        "--start",
        "2026-03-31T00",
        "--end",
        "2026-03-31T06",
        "--rate",
        "100",
        "--bad-lines",
        "1",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "over 6 hours" in out.stdout
    assert len(list((tmp_path / "sp").rglob("*.ndjson.gz"))) >= 1


def test_invalid_config_exits_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "prism.yaml").write_text(
        "source: {kind: spool, path: s}\n"
        "integrations:\n  - {name: prod, provider: ftp, start: '2026-03-01T00'}\n"
    )
    out = prism("demo", cwd=tmp_path)
    assert out.returncode == 2
    assert "integration 'prod': unknown provider 'ftp'" in out.stderr
    assert "Traceback" not in out.stderr
