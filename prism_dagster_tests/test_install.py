"""The package as a user installs it: the built wheel in fresh venvs, away from this checkout.

One wheel (built from an sdist of this tree, as a release would be) goes into two venvs that uv
makes, each with what a user's project may hold:

- ``lowest``: every runtime dependency at the lower bound pyproject.toml declares
  (``--resolution lowest-direct``, with each bound also given as a constraint so that no newer
  transitive package lifts it);
- ``dagster-1.12.22``: the wheel with Dagster 1.12's last release, the rest resolved by our ranges.

In each: the installed versions are what the case claims, no test tool came along, the Dagster
definitions load, one hour of simulated spool traffic is archived by ``dagster asset materialize``
and read back, row for row, from the archive's gzip batches.

Resolution is held to packages published before ``RESOLVED_BEFORE`` so that a new upstream
release cannot change what a case installs; move it forward when a bound needs a newer release.
The venvs share uv's cache (the one ``make`` fills), so a warm run downloads nothing.
"""

from __future__ import annotations

import gzip
import json
import re
import sys
import tarfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prism_dagster_tests.support.packaging import (
    RESOLVED_BEFORE,
    UV,
    Dist,
    build_dist,
    clean_env,
    run,
)

pytestmark = pytest.mark.install

HOUR = datetime(2026, 1, 1, 5, tzinfo=UTC)
PARTITION = f"{HOUR:%Y-%m-%d-%H}:00"
#: Seed 3 at this rate gives the hour 176 requests (an hour in eight is quiet: not this one).
SEED, RATE = 3, 300
INTEGRATION = "compat"
PREFIX = "prism/compat"
#: What only the ``test``/``bench`` extras bring: none of it may come with the runtime.
TEST_ONLY = ("pytest", "ruff", "moto", "duckdb", "sqlglot", "psycopg", "playwright", "uv")
#: Dagster's libraries are numbered 0.(N+16) for Dagster 1.N.
DAGSTER_LIBS = ("dagster-aws", "dagster-azure", "dagster-gcp", "dagster-postgres")

# Runs inside a case's venv: what is installed there, as that venv's Python sees it.
PROBE = """
import json, re, sys
from importlib import metadata
import dagster, polars, prism_dagster

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

print(json.dumps({
    "python": ".".join(map(str, sys.version_info[:3])),
    "dagster": dagster.__version__,
    "polars": polars.__version__,
    "prism_dagster": [prism_dagster.__version__, prism_dagster.__file__],
    "installed": {norm(d.metadata["Name"]): d.version for d in metadata.distributions()},
    "registry": [
        e.value for e in metadata.entry_points(group="dagster_dg_cli.registry_modules")
        if e.name == "prism_dagster"
    ],
}))
"""


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The sdist of this tree, and the wheel built from that sdist."""
    return build_dist(tmp_path_factory.mktemp("dist"))


def floors(requires: dict[str, str]) -> dict[str, str]:
    """Each runtime requirement's lower bound (``>=X``)."""
    found = {}
    for name, spec in requires.items():
        match = re.search(r">=\s*([0-9][^,\s]*)", spec)
        assert match, f"{name} has no lower bound: {spec!r}"
        found[name] = match.group(1)
    return found


def test_wheel_and_sdist_hold_the_package_only(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as zf:
        names = zf.namelist()
        entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
        registry = zf.read(entry_points).decode()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"prism_dagster", dist.wheel.name.split("-py3")[0] + ".dist-info"}, tops
    assert "prism_dagster/py.typed" in names
    assert "prism_dagster/__init__.py" in names
    assert "[dagster_dg_cli.registry_modules]\nprism_dagster = prism_dagster" in registry
    assert "prism-dagster = prism_dagster.cli:main" in registry

    with tarfile.open(dist.sdist) as tf:
        members = [m.split("/", 1)[1] for m in tf.getnames() if "/" in m]
    junk = ("node_modules", ".venv", ".prism", "dist", "build", "benchmarks", "prism_dagster_tests")
    assert not [m for m in members if m.split("/")[0] in junk or "__pycache__" in m]
    assert {"pyproject.toml", "README.md", "CHANGELOG.md", "prism_dagster/py.typed"} <= set(members)
    # Ranges, never exact pins, for every runtime dependency; Python without an upper cap.
    assert all("==" not in spec for spec in dist.requires.values()), dist.requires
    assert {"dagster", "polars", "dagster-aws"} <= set(dist.requires)


def lowest(dist: Dist, workdir: Path) -> list[str | Path]:
    """The install arguments of the ``lowest`` case: every runtime bound at its floor."""
    constraints = workdir / "floors.txt"
    constraints.write_text("".join(f"{n}=={v}\n" for n, v in floors(dist.requires).items()))
    return ["--resolution", "lowest-direct", "--constraint", constraints, dist.wheel]


def check_lowest(dist: Dist, probe: dict) -> None:
    installed = probe["installed"]
    for name, floor in floors(dist.requires).items():
        assert installed.get(name) == floor, f"{name}: {installed.get(name)} is not {floor}"
    assert probe["dagster"] == floors(dist.requires)["dagster"]
    assert probe["polars"] == floors(dist.requires)["polars"]
    assert probe["polars"].startswith("1."), "the floor must be a Polars 1.x"
    assert probe["dagster"].startswith("1.12."), "the floor must be a Dagster 1.12"


def dagster_1_12(dist: Dist, workdir: Path) -> list[str | Path]:
    return [dist.wheel, "dagster==1.12.22"]


def check_dagster_1_12(dist: Dist, probe: dict) -> None:
    installed = probe["installed"]
    assert probe["dagster"] == "1.12.22"
    assert installed["dagster-webserver"] == "1.12.22"
    for lib in DAGSTER_LIBS:
        assert installed[lib] == "0.28.22", f"{lib} {installed[lib]} does not pair with 1.12.22"


CASES = {
    "lowest": (lowest, check_lowest),
    "dagster-1.12.22": (dagster_1_12, check_dagster_1_12),
}


def spool_rows(spool: Path) -> int:
    path = spool / f"{HOUR:%Y/%m/%d}" / f"{HOUR:%H}.ndjson.gz"
    with gzip.open(path, "rt") as handle:
        return sum(1 for line in handle if line.strip())


def archived_rows(archive: Path) -> int:
    folder = archive / PREFIX / "logs" / f"{HOUR:%Y/%m/%d}" / f"hour={HOUR:%H}"
    batches = sorted(folder.glob("batch_*.jsonl.gz"))
    assert batches, f"no batch files in {folder}"
    rows = 0
    for batch in batches:
        with gzip.open(batch, "rt") as handle:  # reads every member of a multi-member gzip
            rows += sum(1 for line in handle if line.strip())
    return rows


@pytest.mark.parametrize("case", list(CASES))
def test_wheel_installs_and_archives_an_hour(
    case: str, dist: Dist, tmp_path_factory: pytest.TempPathFactory
) -> None:
    install_args, check = CASES[case]
    work = tmp_path_factory.mktemp(case)
    venv = work / "venv"
    env = clean_env()
    run([*UV, "venv", "--no-project", "--python", sys.executable, venv], cwd=work, env=env)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    run(
        [
            *UV,
            "pip",
            "install",
            "--no-progress",
            "--python",
            python,
            "--exclude-newer",
            RESOLVED_BEFORE,
            *install_args(dist, work),
        ],
        cwd=work,
        env=env,
    )

    probe = json.loads(run([python, "-c", PROBE], cwd=work, env=env).stdout)
    version, where = probe["prism_dagster"]
    assert Path(where).is_relative_to(venv), f"imported {where}, not the installed wheel"
    assert version == dist.wheel.name.split("-")[1]
    assert probe["registry"] == ["prism_dagster"]
    assert not [t for t in TEST_ONLY if t in probe["installed"]], "a test tool came along"
    check(dist, probe)
    print(
        f"{case}: python {probe['python']}, "
        + ", ".join(f"{n} {probe['installed'][n]}" for n in sorted(dist.requires))
    )

    # One hour of traffic, archived to a local folder by Dagster, read back.
    spool, archive, home = work / "spool", work / "archive", work / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    config = work / "prism.yaml"
    config.write_text(
        f"source:\n  kind: spool\n  path: {spool}\n"
        f"integrations:\n  - name: {INTEGRATION}\n    provider: local\n"
        f'    path: {archive}\n    prefix: {PREFIX}\n    start: "{HOUR:%Y-%m-%dT%H}"\n'
    )
    env = clean_env(PRISM_CONFIG=str(config), DAGSTER_HOME=str(home))
    end = HOUR.replace(hour=HOUR.hour + 1)
    hours = ["--start", f"{HOUR:%Y-%m-%dT%H}", "--end", f"{end:%Y-%m-%dT%H}"]
    traffic = ["--rate", str(RATE), "--seed", str(SEED)]
    run(
        [bin_dir / "prism-dagster", "simulate", "--spool", spool, *hours, *traffic],
        cwd=work,
        env=env,
    )
    expected = spool_rows(spool)
    assert expected > 0
    validated = run(
        [bin_dir / "dagster", "definitions", "validate", "-m", "prism_dagster.definitions"],
        cwd=work,
        env=env,
    )
    assert "Validation successful" in validated.stdout + validated.stderr
    in_process = json.dumps({"execution": {"config": {"in_process": {}}}})
    select = ["--select", f"prism/archive/{INTEGRATION}", "--partition", PARTITION]
    materialize = [bin_dir / "dagster", "asset", "materialize", "-m", "prism_dagster.definitions"]
    run([*materialize, *select, "--config-json", in_process], cwd=work, env=env)
    assert archived_rows(archive) == expected
    # The SQL an analyst needs comes from the runtime alone (no DuckDB installed here).
    sql = run([bin_dir / "prism-dagster", "sql", INTEGRATION], cwd=work, env=env).stdout
    assert str(archive) in sql
