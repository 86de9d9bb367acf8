"""The local folder's OS errors, as the operator should read them: a cause and what to do."""

from __future__ import annotations

import errno
import os
import pwd
from pathlib import Path

from prism_dagster.errors import FailureCause


def classify(exc: OSError, root: Path) -> tuple[FailureCause, str, str] | None:
    """(cause, what is wrong, the fix) of an OS error on the folder ``root``; None if unnamed.

    Read from the error number, never from the message (which the OS words in its locale).
    """
    path = Path(os.fsdecode(exc.filename)) if exc.filename else root
    code = exc.errno
    if code == errno.ENOTDIR:
        blocker = _file_in_the_way(path)
        fix = f"Move the file {blocker} out of the way, or set path to a folder."
        return FailureCause.NOT_A_FOLDER, f"{blocker} is a file, not a folder", fix
    if code in (errno.EACCES, errno.EPERM):
        folder = _nearest_folder(path)
        fix = (
            f"Let {_user()} create, read and delete files in {folder} and the folders below "
            "it (see its owner, mode, ACLs and attributes: ls -ld, getfacl, lsattr)."
        )
        return FailureCause.ACCESS_DENIED, f"{_said(exc)}: {path}", fix
    if code == errno.EROFS:
        mount = _mount_point(path)
        fix = f"Mount {mount} read-write, or set path to a folder on a writable file system."
        return FailureCause.READ_ONLY, f"{mount} is mounted read-only", fix
    if code in (errno.ENOSPC, errno.EDQUOT):
        mount = _mount_point(path)
        full = (
            "no space left" if code == errno.ENOSPC else f"the disk quota of {_user()} is used up"
        )
        fix = f"Free space on {mount}, or set path to a folder on a file system with room."
        return FailureCause.DISK_FULL, f"{full} on {mount}", fix
    if code == errno.ENOENT:
        fix = (
            f"Something removed it while this run was using {root}: make sure nothing else "
            "deletes there, then run again."
        )
        return FailureCause.PATH_GONE, f"{path} does not exist", fix
    return None


def _said(exc: OSError) -> str:
    return (exc.strerror or os.strerror(exc.errno or 0)).lower()


def _file_in_the_way(path: Path) -> Path:
    """The nearest of ``path`` and its parents that exists: the file a folder was needed at."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return path if os.path.isdir(candidate) else candidate
    return path


def _nearest_folder(path: Path) -> Path:
    return next((p for p in (path, *path.parents) if os.path.isdir(p)), path)


def _mount_point(path: Path) -> Path:
    """The mount point of the file system holding ``path`` (or of its nearest parent)."""
    found = Path(os.path.abspath(path))
    while not os.path.ismount(found) and found != found.parent:
        found = found.parent
    return found


def _user() -> str:
    uid = os.geteuid()
    try:
        return f"the user this runs as ({pwd.getpwuid(uid).pw_name}, uid {uid})"
    except KeyError:
        return f"the user this runs as (uid {uid})"
