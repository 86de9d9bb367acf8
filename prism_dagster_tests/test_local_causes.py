"""A local archive folder that cannot be written fails the run with the cause and the fix.

Each case is a real OS error, made the way it happens on a server: a file where the folder
should be, a read-only or full file system (small tmpfs mounts; root only), a folder marked
immutable (EPERM even for root), and a folder the run's user may not write (EACCES, run as
``nobody``: root passes every permission check).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import prism_dagster
from prism_dagster.destinations import LocalDestination
from prism_dagster.errors import DestinationError, FailureCause
from prism_dagster_tests.support.rows import gateway_row, hour, write_spool
from prism_dagster_tests.support.runs import failure_cause, failure_message, materialise

H14 = hour("2026-03-31T14")
LEASE = "p/logs/2026/03/31/hour=14/_lease.json"


def _config(spool: Path, path: Path) -> dict[str, Any]:
    integration = {"name": "prod", "prefix": "p", "start": "2026-03-31T00", "path": str(path)}
    return {
        "source": {"kind": "spool", "path": str(spool)},
        "integrations": [{"provider": "local", **integration}],
    }


def _fails(spool: Path, path: Path) -> tuple[str, str, str]:
    """(cause, category, first line of the message) of archiving hour 14 into ``path``."""
    result = materialise(_config(spool, path), H14, check=False)
    assert not result.success
    cause, category = failure_cause(result)
    first = failure_message(result).splitlines()[0]
    return cause, category, first.split("Failure: ", 1)[-1]


@pytest.fixture
def one_row(spool: Path) -> Path:
    write_spool(spool / "a.ndjson", [gateway_row("a", "2026-03-31T14:10:00Z")])
    return spool


def _head(path: Path, action: str, key: str) -> str:
    return f"integration 'prod' (local folder '{path}'): {action} file://{path}/{key} failed: "


@pytest.mark.parametrize(
    "blocked",
    ["", "p", "p/logs/2026/03/31/hour=14"],
    ids=["the folder", "the prefix's folder", "the hour's folder"],
)
def test_a_file_where_a_folder_must_be(one_row: Path, tmp_path: Path, blocked: str) -> None:
    root = tmp_path / "archive"
    file = root / blocked
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("a file, not a folder")
    cause, category, first = _fails(one_row, root)
    assert (cause, category) == ("not a folder", "not a folder")
    assert first == _head(root, "creating", LEASE) + (
        f"not a folder ({file} is a file, not a folder). "
        f"Move the file {file} out of the way, or set path to a folder."
    )


@contextmanager
def tmpfs(where: Path, *options: str) -> Iterator[Path]:
    """A small tmpfs mounted at ``where`` (skips the test where mounting is not allowed)."""
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(["size=64k", *options]), "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def test_a_read_only_file_system(one_row: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro") as mount:
        cause, category, first = _fails(one_row, mount)
    assert (cause, category) == ("read-only file system", "read-only file system")
    assert first == _head(mount, "creating", LEASE) + (
        f"read-only file system ({mount} is mounted read-only). "
        f"Mount {mount} read-write, or set path to a folder on a writable file system."
    )


def test_a_disk_that_fills_up_while_a_batch_is_written(spool: Path, tmp_path: Path) -> None:
    # Random text barely compresses: about 180 KiB of gzip for a 64 KiB file system.
    noise = (base64.b64encode(os.urandom(360)).decode() for _ in range(500))
    rows = [
        gateway_row(f"r{i}", "2026-03-31T14:10:00Z", error_message=n) for i, n in enumerate(noise)
    ]
    write_spool(spool / "a.ndjson", rows)
    with tmpfs(tmp_path / "full") as mount:
        cause, category, first = _fails(spool, mount)
        assert not [p for p in mount.rglob("*") if p.is_file() and ".tmp-" in p.name]
    assert (cause, category) == ("disk full", "disk full")
    assert first.startswith(f"integration 'prod' (local folder '{mount}'): writing file://{mount}/")
    assert first.endswith(
        f"failed: disk full (no space left on {mount}). "
        f"Free space on {mount}, or set path to a folder on a file system with room."
    )


def test_an_immutable_folder_is_access_denied_even_for_root(one_row: Path, tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    if subprocess.run(["chattr", "+i", str(root)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported here (needs root on ext4 or xfs)")
    try:
        cause, category, first = _fails(one_row, root)
    finally:
        subprocess.run(["chattr", "-i", str(root)], check=True)
    assert (cause, category) == ("access denied", "authentication/permission")
    assert first.startswith(
        _head(root, "creating", LEASE) + f"access denied (operation not permitted: {root}/p). "
    )
    assert f"create, read and delete files in {root} and the folders below it" in first
    assert "lsattr" in first


_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
_SCRIPT = """
import json, sys
from prism_dagster_tests.support.rows import hour
from prism_dagster_tests.support.runs import failure_cause, failure_message, materialise
result = materialise(json.loads(sys.argv[1]), hour("2026-03-31T14"), check=False)
print(json.dumps([*failure_cause(result), failure_message(result)]))
"""


def test_a_folder_the_user_may_not_write_is_access_denied(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run as an unprivileged user")
    top = Path(tempfile.mkdtemp(prefix="prism-local-"))  # pytest's own folders are 0700
    try:
        top.chmod(0o755)
        write_spool(top / "spool" / "a.ndjson", [gateway_row("a", "2026-03-31T14:10:00Z")])
        (top / "archive").mkdir(mode=0o755)  # root's: nobody may read it, not write it
        config = json.dumps(_config(top / "spool", top / "archive"))
        done = subprocess.run(
            [*_NOBODY, sys.executable, "-c", _SCRIPT, config],
            env={
                "PATH": os.environ["PATH"],
                "HOME": str(top),
                "PYTHONPATH": str(Path(prism_dagster.__file__).parent.parent),
            },
            cwd=top,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        cause, category, message = json.loads(done.stdout.splitlines()[-1])
    finally:
        shutil.rmtree(top)
    first = message.splitlines()[0].split("Failure: ", 1)[-1]
    archive = top / "archive"
    assert (cause, category) == ("access denied", "authentication/permission")
    assert first == _head(archive, "creating", LEASE) + (
        f"access denied (permission denied: {archive}/p). Let the user this runs as "
        f"(nobody, uid {_uid('nobody')}) create, read and delete files in {archive} and the "
        "folders below it (see its owner, mode, ACLs and attributes: ls -ld, getfacl, lsattr)."
    )


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def test_an_object_removed_while_in_use_is_named(tmp_path: Path) -> None:
    dest = LocalDestination(path=str(tmp_path), integration="prod")
    with pytest.raises(DestinationError) as caught:
        dest.get_object("p/logs/2026/03/31/hour=14/_manifest.json")
    assert caught.value.cause is FailureCause.PATH_GONE
    missing = tmp_path / "p/logs/2026/03/31/hour=14/_manifest.json"
    assert str(caught.value) == _head(
        tmp_path, "reading", "p/logs/2026/03/31/hour=14/_manifest.json"
    ) + (
        f"file or folder missing ({missing} does not exist). Something removed it while this "
        f"run was using {tmp_path}: make sure nothing else deletes there, then run again."
    )
