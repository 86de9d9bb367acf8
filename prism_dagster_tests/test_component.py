"""The component where a user adds it: a project `create-dagster` made, the built wheel (not
editable) and `dg`, two instances beside the project's own asset, one hour materialised by
`dagster asset materialize`, the archive read back, and the CLI pointed at the `defs.yaml`."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prism_dagster_tests.support.packaging import (
    CONSTRAINTS,
    UV,
    build_dist,
    clean_env,
    make_venv,
    run,
)

pytestmark = pytest.mark.install

PROJECT = "userproj"
COMPONENT = "prism_dagster.PrismArchiveComponent"
HOUR = datetime(2026, 1, 1, 5, tzinfo=UTC)
PARTITION = f"{HOUR:%Y-%m-%d-%H}:00"

OWN_ASSET = '''\
import dagster as dg


@dg.asset
def orders() -> int:
    """The project's own asset, beside the archive."""
    return 1
'''


def defs_yaml(archive: str, prefix: str = "prism/gw", extra: str = "") -> str:
    """A component's defs.yaml: relative folders, anchored at the project root."""
    return (
        f"type: {COMPONENT}\n"
        "attributes:\n"
        "  source: {kind: spool, path: data/spool}\n"
        "  integrations:\n"
        "    - name: gw\n"
        "      provider: local\n"
        f"      path: {archive}\n"
        f"      prefix: {prefix}\n"
        f'      start: "{HOUR:%Y-%m-%dT%H}"\n'
        f"{extra}"
    )


@dataclass(frozen=True)
class UserProject:
    root: Path
    bin: Path
    home: Path

    @property
    def defs(self) -> Path:
        return self.root / "src" / PROJECT / "defs"

    def env(self, **extra: str) -> dict[str, str]:
        path = f"{self.bin}{os.pathsep}{os.environ['PATH']}"
        return clean_env(PATH=path, DAGSTER_HOME=str(self.home), **extra)

    def run(self, *args: str | Path, **env: str) -> subprocess.CompletedProcess[str]:
        """A command of the venv, in the project; it must succeed."""
        return run([self.bin / str(args[0]), *args[1:]], cwd=self.root, env=self.env(**env))

    def attempt(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """A command of the venv, in the project, whatever it returns."""
        argv = [str(self.bin / str(args[0])), *map(str, args[1:])]
        env = self.env()
        return subprocess.run(argv, cwd=self.root, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> UserProject:
    """A fresh project with its own asset, the wheel and `dg` installed, and a scaffold."""
    work = tmp_path_factory.mktemp("user")
    dist = build_dist(work)
    tools = ("dagster-dg-cli", "create-dagster", "dagster-webserver")
    bin_dir = make_venv(work / "venv", dist.wheel, *tools, extra=["--constraint", CONSTRAINTS])
    home = work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    run([bin_dir / "create-dagster", "project", PROJECT, "--no-uv-sync"], work, clean_env())
    root = work / PROJECT
    install = ["pip", "install", "--no-progress", "--python", bin_dir / "python"]
    run([*UV, *install, "--constraint", CONSTRAINTS, "-e", root], work, clean_env())
    user = UserProject(root, bin_dir, home)
    (user.defs / "own_assets.py").write_text(OWN_ASSET)
    user.run("dg", "scaffold", "defs", COMPONENT, "gateway_archive")
    return user


def test_the_component_is_listed_and_scaffolds_a_defs_yaml_that_loads(project) -> None:
    listed = json.loads(project.run("dg", "list", "components", "--json").stdout)
    assert COMPONENT in {item["key"] for item in listed["items"]}
    scaffold = (project.defs / "gateway_archive" / "defs.yaml").read_text()
    assert scaffold.startswith(f"type: {COMPONENT}\n")
    for provider in ("provider: s3", "provider: azure", "provider: gcs"):
        assert f"#   {provider}" in scaffold  # the cloud fields, shown in comments
    assert (project.root / ".prism" / "spool").is_dir()  # the folder it names
    checked = project.run("dg", "check", "defs")
    assert "All definitions loaded successfully" in checked.stdout + checked.stderr


def test_two_instances_beside_the_projects_asset_and_one_hour_archived(project) -> None:
    (project.defs / "gateway_archive" / "defs.yaml").write_text(defs_yaml("data/archive_a"))
    (project.defs / "team_b").mkdir()
    (project.defs / "team_b" / "defs.yaml").write_text(defs_yaml("data/archive_b"))
    project.run("dg", "check", "defs")

    listed = json.loads(project.run("dg", "list", "defs", "--json").stdout)
    keys = {"/".join(a["asset_key_parts"]) for a in listed["assets"]}
    assert keys == {
        "orders",
        *(
            f"{ns}/prism/{what}"
            for ns in ("gateway_archive", "team_b")
            for what in ("archive/gw", "usage_daily/gw", "gateway_request_logs")
        ),
    }
    jobs = {j["name"] for j in listed["jobs"]}
    assert {"gateway_archive__archive_gw", "team_b__archive_gw"} <= jobs
    sensors = {s["name"] for s in listed["sensors"]}
    assert {"gateway_archive__prism_status", "team_b__prism_status"} <= sensors
    resources = {r["name"] for r in listed["resources"]}
    assert {"gateway_archive__log_source", "team_b__destination_gw"} <= resources

    spool = project.root / "data" / "spool"
    hours = ["--start", f"{HOUR:%Y-%m-%dT%H}", "--end", f"{HOUR.replace(hour=6):%Y-%m-%dT%H}"]
    project.run(
        "prism-dagster", "simulate", "--spool", spool, *hours, "--rate", "300", "--seed", "3"
    )
    with gzip.open(spool / f"{HOUR:%Y/%m/%d}" / f"{HOUR:%H}.ndjson.gz", "rt") as handle:
        expected = sum(1 for line in handle if line.strip())
    in_process = json.dumps({"execution": {"config": {"in_process": {}}}})
    project.run(
        "dagster", "asset", "materialize", "-m", f"{PROJECT}.definitions",
        "--select", "gateway_archive/prism/archive/gw", "--partition", PARTITION,
        "--config-json", in_process,
    )  # fmt: skip
    folder = project.root / "data" / "archive_a" / "prism/gw/logs/2026/01/01/hour=05"
    batches = sorted(folder.glob("batch_*.jsonl.gz"))
    assert batches and (folder / "_manifest.json").exists()
    rows = 0
    for batch in batches:
        with gzip.open(batch, "rt") as handle:
            rows += sum(1 for line in handle if line.strip())
    assert rows == expected > 0
    assert not (project.root / "data" / "archive_b").exists()  # the other instance's untouched


def test_the_cli_reads_a_component_defs_yaml(project) -> None:
    config = str(project.defs / "gateway_archive" / "defs.yaml")
    status = json.loads(
        project.run("prism-dagster", "status", "--json", PRISM_CONFIG=config).stdout
    )
    assert [(s["name"], s["destination"]) for s in status] == [
        ("gw", (project.root / "data" / "archive_a" / "prism/gw").as_uri())
    ]
    pools = project.run("prism-dagster", "pools", PRISM_CONFIG=config).stdout.splitlines()
    assert [line.split()[-2] for line in pools] == [
        "gateway_archive__prism_gateway",
        "gateway_archive__prism_destination_gw",
    ]
    sql = project.run("prism-dagster", "sql", "gw", PRISM_CONFIG=config).stdout
    assert str(project.root / "data" / "archive_a") in sql
    validated = project.run("prism-dagster", "validate", "gw", PRISM_CONFIG=config)
    assert "PASS" in validated.stdout
    chain = project.run("prism-dagster", "lineage", "gw", f"{HOUR:%Y-%m-%dT%H}", "--json",
                        PRISM_CONFIG=config).stdout  # fmt: skip
    writes = json.loads(chain)["writes"]
    assert len(writes) == 1  # the materialisation above, found under the namespaced asset key


def test_a_bad_defs_yaml_fails_dg_check_naming_integration_and_field(project) -> None:
    bad = project.defs / "bad_one"
    bad.mkdir()
    secret = "AKIAEXAMPLESECRET123"
    cloud = (
        "    - {name: cloud, provider: s3, bucket: b, region: r, start: 2026-01-01T05,\n"
        f"       secret_access_key: {secret}}}\n"
    )
    (bad / "defs.yaml").write_text(
        defs_yaml("data/archive_c", extra="      gzip_level: 42\n" + cloud)
    )
    try:
        checked = project.attempt("dg", "check", "defs")
    finally:
        shutil.rmtree(bad)
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0
    assert "bad_one/defs.yaml" in output
    assert "integration 'gw': field 'gzip_level'" in output
    assert "integration 'cloud': field 'secret_access_key'" in output
    assert secret not in output  # a refused literal secret is never echoed back


def test_two_instances_writing_one_archive_fail_dg_check(project) -> None:
    clash = project.defs / "team_c"
    clash.mkdir()
    # team_b's archive with a prefix inside it: its hour folders would hold team_c's objects.
    nested = "prism/gw/logs/2026/01/01/hour=05/x"
    (clash / "defs.yaml").write_text(defs_yaml("data/archive_b", prefix=nested))
    try:
        checked = project.attempt("dg", "check", "defs")
    finally:
        shutil.rmtree(clash)
    output = checked.stdout + checked.stderr
    assert checked.returncode != 0
    assert "overlaps one of the component" in output and "team_c/defs.yaml" in output
