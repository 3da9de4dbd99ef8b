"""Whose files a run trusts, as ssh trusts a key: a record another user could rewrite
is no record.

A file is trusted when this user (or root) owns it and nobody else may write it; a
directory when, from the root down, each directory on the way is this user's or
root's and no one else may write it, unless its sticky bit keeps others from
renaming or removing what they do not own (as ``/tmp``'s does). A user who can
write a parent can swap what is below it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _owner_ok(uid: int) -> bool:
    return uid in (os.getuid(), 0)


def file_problem(info: os.stat_result) -> str | None:
    """Why a file with this ``stat`` cannot be trusted, or None."""
    if not _owner_ok(info.st_uid):
        return f"is owned by another user (uid {info.st_uid})"
    if info.st_mode & _OTHERS_WRITE:
        return f"is writable by {_who(info.st_mode)} (mode {stat.S_IMODE(info.st_mode):04o})"
    return None


def directory_problem(path: Path, *, sticky_ok: bool = False) -> str | None:
    """Why the directory ``path`` (which exists) cannot be trusted, or None: the first
    directory from the root down that another user owns, or that others may write
    without the sticky bit, named with what is wrong. ``path`` itself may be shared
    with the sticky bit only if ``sticky_ok`` (it holds one file of ours, not a
    directory of records that anyone could add to)."""
    real = Path(os.path.realpath(path))  # the directories the kernel walks
    for where in [*reversed(real.parents), real]:
        try:
            info = os.stat(where)
        except OSError as exc:
            return f"{where}: {exc.strerror}"
        if not _owner_ok(info.st_uid):
            return f"{where} is owned by another user (uid {info.st_uid})"
        sticky = (sticky_ok or where != real) and info.st_mode & stat.S_ISVTX
        if info.st_mode & _OTHERS_WRITE and not sticky:
            mode = stat.S_IMODE(info.st_mode)
            return f"{where} is writable by {_who(info.st_mode)} (mode {mode:04o})"
    return None


def _who(mode: int) -> str:
    both = (mode & _OTHERS_WRITE) == _OTHERS_WRITE
    return "its group and others" if both else "its group" if mode & stat.S_IWGRP else "others"
