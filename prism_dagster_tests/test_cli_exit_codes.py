"""Every command's exit codes, as its --help documents them: 0 fine, 1 a problem found, 2 bad
usage or configuration. Each documented code is produced here by the command itself."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from prism_dagster_tests.support.cli import World, archived_world, prism

BAD = ("--config", "bad.yaml")  # a prism.yaml naming a provider that does not exist
NO_SPOOL = ("--config", "no_spool.yaml")  # the world's, reading a spool folder that is not there
BROKEN = ("--config", "broken.yaml")  # a demo whose archive folder is a file

#: (command, exit code, arguments). ``demo`` exiting 0 is held by test_cli's demo test.
CASES = [
    ("demo", 1, ("demo", "--rate", "5", *BROKEN)),
    ("demo", 2, ("demo", *BAD)),
    ("validate", 0, ("validate", "prod")),
    ("validate", 1, ("validate", "prod", *NO_SPOOL)),
    ("validate", 2, ("validate", "nope")),
    ("status", 0, ("status",)),
    ("status", 2, ("status", *BAD)),
    ("pause", 0, ("pause", "prod")),
    ("pause", 2, ("pause", "nope")),
    ("resume", 0, ("resume", "prod")),
    ("resume", 2, ("resume", "prod", *BAD)),
    ("lineage", 0, ("lineage", "prod", "2026-04-01T01")),
    ("lineage", 1, ("lineage", "prod", "2026-04-01T05")),  # never archived: complete: NO
    ("lineage", 2, ("lineage", "prod", "garbage")),
    (
        "simulate",
        0,
        ("simulate", "--spool", "sim", "--start", "2026-04-02T00", "--end", "2026-04-02T01"),
    ),
    ("simulate", 2, ("simulate", "--start", "2026-04-02T01", "--end", "2026-04-02T00")),
    ("sql", 0, ("sql", "prod")),
    ("sql", 2, ("sql", "prod", "--engine", "athena")),  # athena reads S3 only
    ("pools", 0, ("pools",)),
    ("pools", 1, ("pools", "--apply")),  # $DAGSTER_HOME is a file here: dagster refuses it
    ("pools", 2, ("pools", *BAD)),
    ("permissions", 0, ("permissions", "prod")),
    ("permissions", 2, ("permissions", "nope")),
    ("verify", 0, ("verify", "prod", "--from", "2026-04-01T00", "--to", "2026-04-01T02")),
    ("verify", 1, ("verify", "prod", "--from", "2026-04-01T05", "--to", "2026-04-01T05")),
    ("verify", 2, ("verify", "prod", "--from", "2026-04-01T02", "--to", "2026-04-01T00")),
]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    world = archived_world(tmp_path_factory.mktemp("codes") / "world")
    config = (world.root / "prism.yaml").read_text()
    (world.root / "bad.yaml").write_text(config.replace("provider: local", "provider: ftp"))
    (world.root / "no_spool.yaml").write_text(config.replace("path: spool", "path: no_spool"))
    (world.root / "broken.yaml").write_text(
        config.replace("path: spool", "path: demo_spool").replace("path: archive", "path: a_file")
    )
    (world.root / "a_file").write_text("not a folder\n")
    return world


@functools.cache
def documented(command: str) -> set[int]:
    """The exit codes ``command --help`` documents."""
    epilog = prism(command, "--help", cwd=Path.cwd()).stdout.split("exit codes:\n", 1)[1]
    return {int(code) for code in re.findall(r"^  (\d)  ", epilog, re.MULTILINE)}


@pytest.mark.parametrize(("command", "code", "args"), CASES, ids=[f"{c}-{n}" for c, n, _ in CASES])
def test_each_command_exits_as_its_help_says(
    world: World, command: str, code: int, args: tuple[str, ...]
) -> None:
    env = world.env
    if args == ("pools", "--apply"):
        env = {"DAGSTER_HOME": str(world.root / "a_file")}
    done = prism(*args, cwd=world.root, env=env)
    assert done.returncode == code, done.stdout + done.stderr
    assert code in documented(command)


def test_every_documented_code_is_held_here() -> None:
    held = {(command, code) for command, code, _ in CASES} | {("demo", 0)}
    commands = {command for command, _, _ in CASES}
    assert {(c, code) for c in commands for code in documented(c)} == held
