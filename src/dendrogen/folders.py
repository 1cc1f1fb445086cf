"""Folders the library writes into: which files it owns, and all-or-nothing writes of them.

**Only the library's own files are written or removed.** A folder is written in place: other
files in it (notes, pictures, sub-folders) are never touched. A path that is a file, or lies under
a file, is refused, and so is a non-empty folder that is not a dendrogen model folder, unless
``overwrite=True`` (which then writes the library's files beside the others, replacing files
of the same names, and still deletes nothing else).

**Writes are all-or-nothing.** The new files are staged in a hidden folder inside the target
(``.dendrogen-tmp-<pid>-<random>/``); ``config.json`` is written there last. The commit point is
the atomic creation of ``.dendrogen-commit.json``, which lists the staged files and the stale
files of the previous state to remove. The files are then moved into place, and the marker is
removed. A crash before the commit point leaves the old state (the staging folder is deleted by
the next write or read); a crash after it is completed ("rolled forward") by the next write or
read. So a reader sees the complete old state or the complete new one, never neither.

What goes into a model folder, and how it is verified, is :mod:`dendrogen.io`'s business.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG = "config.json"
TREE = "tree.json"
WEIGHTS = "model.safetensors"
METRICS = "metrics.json"
#: The files of a model folder; checkpoints add their own (recorded in config.json's hashes).
OWNED = (CONFIG, TREE, WEIGHTS, METRICS)
#: Key of config.json holding ``{file name: SHA-256 hex digest}`` of the other files.
HASHES = "sha256"
STAGING_PREFIX = ".dendrogen-tmp-"
COMMIT = ".dendrogen-commit.json"

#: Staging folders of writes in progress in this process (a reader must not clean them up).
_ACTIVE: set[Path] = set()
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


# ---------------------------------------------------------------------------------- ownership
def _dendrogen_config(path: Path) -> dict[str, Any] | None:
    """The parsed config.json at ``path`` if it is one dendrogen wrote, else None."""
    try:
        if path.stat().st_size > 64 << 20:
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if isinstance(data, dict) and "format_version" in data and "dendrogen_version" in data:
        return data
    return None


def _is_library_entry(entry: Path) -> bool:
    return entry.name == COMMIT or entry.name.startswith(STAGING_PREFIX)


def is_model_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder dendrogen wrote (a model or a checkpoint), possibly with
    an unfinished write in it."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / COMMIT).exists() or _dendrogen_config(path / CONFIG) is not None:
        return True
    return any(p.name.startswith(STAGING_PREFIX) for p in path.iterdir())


def _may_write_into(path: Path, depth: int = 2) -> bool:
    """An empty folder, a dendrogen folder, or one holding only dendrogen folders (e.g. the
    ``checkpoint/`` the command line keeps inside ``--out``) and empty folders, looking
    ``depth`` levels down."""
    if is_model_folder(path):
        return True
    for entry in path.iterdir():
        if _is_library_entry(entry):
            continue
        if entry.is_dir() and not entry.is_symlink() and depth > 0:
            if _may_write_into(entry, depth - 1):
                continue
        return False
    return True


def check_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Check that the library may write a model folder at ``path``; return it as a Path.

    Raises:
        ValueError: ``path`` is a file, lies under a file, or is a non-empty folder that is not
            a dendrogen model folder (unless ``overwrite=True``); or it cannot be written.
    """
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path} is a file, not a folder; give the path of a folder to write to")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"cannot write to {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ValueError(f"cannot write to {path}: {parent} is not writable")
            break
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise ValueError(f"cannot write to {path}: the folder is not writable")
        if not overwrite and not _may_write_into(path):
            raise ValueError(
                f"{path} is a non-empty folder that is not a dendrogen model folder; choose a new "
                f"or empty folder, or pass overwrite=True (--overwrite) to write the model's "
                f"files ({', '.join(OWNED)}) beside the files already there (those with other "
                f"names are kept)"
            )
    return path


def _previous_files(path: Path) -> set[str]:
    """The library's files of the state now in ``path`` (what a new write may replace)."""
    config = _dendrogen_config(path / CONFIG)
    if config is None:
        return set()
    hashes = config.get(HASHES)
    if isinstance(hashes, dict):
        names = {n for n in hashes if isinstance(n, str) and PLAIN_NAME.match(n)}
    else:  # written before hashes were recorded: the standard files
        names = {n for n in OWNED if (path / n).is_file()}
    return names | {CONFIG}


# ---------------------------------------------------------------------------------- recovery
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


#: A staging folder untouched this long is stale even if its writer's pid is in use again.
STALE_AFTER_S = 3600.0


def _is_stale(stage: Path) -> bool:
    """A staging folder no write is using any more: not one of this process's writes in
    progress, and its writer (pid in the name) has exited or it is over an hour old."""
    if stage in _ACTIVE:
        return False
    match = re.match(re.escape(STAGING_PREFIX) + r"(\d+)-", stage.name)
    if match is None:
        return True
    pid = int(match.group(1))
    if pid == os.getpid() or not _pid_alive(pid):
        return True
    try:
        return time.time() - stage.stat().st_mtime > STALE_AFTER_S
    except OSError:
        return False


def _read_plan(path: Path) -> dict[str, Any] | None:
    """The plan in the commit marker; None if the marker is gone (its write just finished)."""
    marker = path / COMMIT
    problem = None
    try:
        plan = json.loads(marker.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        plan, problem = None, str(err)
    if problem is None:
        try:
            staging, files, remove = plan["staging"], plan["files"], plan["remove"]
            names = [*files, *remove]
        except (KeyError, TypeError) as err:
            problem = f"no {err}"
        else:
            if not (
                isinstance(staging, str)
                and staging.startswith(STAGING_PREFIX)
                and "/" not in staging
                and all(isinstance(n, str) and PLAIN_NAME.match(n) for n in names)
            ):
                problem = "unexpected entries"
    if problem is not None:
        raise ValueError(
            f"{marker} (the record of an unfinished write) is unreadable ({problem}); the folder "
            f"may be damaged: delete {marker.name} and any {STAGING_PREFIX}* folder in it, then "
            f"check or rewrite the model"
        )
    return plan


def _roll_forward(path: Path, plan: dict[str, Any]) -> None:
    """Finish a committed write: move the staged files in (config.json last), remove the
    previous state's stale files, then the staging folder and the marker. Idempotent."""
    stage = path / plan["staging"]
    files = list(plan["files"])
    for name in files:
        src = stage / name
        if src.is_file():
            # another process (a reader recovering at the same time) may have moved it already
            with contextlib.suppress(FileNotFoundError):
                os.replace(src, path / name)
    for name in plan["remove"]:
        if name not in files:
            (path / name).unlink(missing_ok=True)
    shutil.rmtree(stage, ignore_errors=True)
    (path / COMMIT).unlink(missing_ok=True)


def recover(path: str | os.PathLike) -> None:
    """Complete or discard an interrupted write in folder ``path`` (a no-op when there is none).

    A committed write is completed; an uncommitted one (a staging folder no live process uses)
    is deleted. Leftovers of the older write scheme beside the folder (``.name.old-*``,
    ``.name.tmp-*``) are recovered too. Called by every write and read.
    """
    path = Path(path)
    _recover_legacy(path)
    if not path.is_dir():
        return
    if (path / COMMIT).exists():
        plan = _read_plan(path)
        if plan is not None:
            _roll_forward(path, plan)
    for entry in path.iterdir():
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir() and _is_stale(entry):
            shutil.rmtree(entry, ignore_errors=True)


def _recover_legacy(path: Path) -> None:
    """Folders the old ``write_folder`` (rename the target away, rename the new one in) left."""
    parent = path.parent
    if not parent.is_dir():
        return
    prefix = f".{path.name}."
    try:
        leftovers = [
            p
            for p in parent.iterdir()
            if p.name.startswith(prefix)
            and re.match(r"(old|tmp)-", p.name[len(prefix) :])
            and p.is_dir()
            and not p.is_symlink()
            and (not any(p.iterdir()) or (p / CONFIG).exists())
        ]
    except OSError:
        return
    if not leftovers:
        return
    olds = sorted(
        (p for p in leftovers if p.name[len(prefix) :].startswith("old-")),
        key=lambda p: p.stat().st_mtime,
    )
    if not path.exists() and olds and _dendrogen_config(olds[-1] / CONFIG) is not None:
        os.replace(olds[-1], path)  # killed between the two renames: the old state comes back
        leftovers.remove(olds[-1])
    for p in leftovers:
        shutil.rmtree(p, ignore_errors=True)


# ---------------------------------------------------------------------------------- writing
def write_folder(
    path: str | os.PathLike, fill: Callable[[Path], None], *, overwrite: bool = False
) -> Path:
    """Write the library's files of ``path`` all-or-nothing: ``fill(staging_dir)`` writes them
    (plain files; ``config.json`` included), then they replace the previous state's files.

    Files in ``path`` that the library did not write are never touched. See the module doc.
    """
    path = check_output_dir(path, overwrite)
    path.mkdir(parents=True, exist_ok=True)
    recover(path)
    previous = _previous_files(path)
    stage = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=path))
    _ACTIVE.add(stage)
    committed = False
    try:
        fill(stage)
        names = sorted(p.name for p in stage.iterdir())
        for name in names:
            if not PLAIN_NAME.match(name) or not (stage / name).is_file():
                raise ValueError(f"a model folder holds plain files only, got {name!r}")
        files = [n for n in names if n != CONFIG] + ([CONFIG] if CONFIG in names else [])
        plan = {"staging": stage.name, "files": files, "remove": sorted(previous - set(files))}
        marker_tmp = stage / ".commit"  # swept away with the staging folder
        marker_tmp.write_text(json.dumps(plan))
        os.replace(marker_tmp, path / COMMIT)  # the commit point
        committed = True
        _roll_forward(path, plan)
    except BaseException:
        if not committed:
            shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        _ACTIVE.discard(stage)
    return path


def remove_state(path: str | os.PathLike, _depth: int = 1) -> None:
    """Delete the library's files of folder ``path`` (a checkpoint) and of the model folders
    directly in it, then each folder that this leaves empty. Files the library did not write
    stay."""
    path = Path(path)
    if not path.is_dir():
        return
    if _depth > 0:
        for entry in path.iterdir():
            if entry.is_dir() and not entry.is_symlink() and is_model_folder(entry):
                remove_state(entry, _depth - 1)
    recover(path)
    for name in _previous_files(path):
        (path / name).unlink(missing_ok=True)
    for entry in path.iterdir():
        if entry.name.startswith(STAGING_PREFIX) and _is_stale(entry):
            shutil.rmtree(entry, ignore_errors=True)
    with contextlib.suppress(OSError):
        path.rmdir()  # only when empty


def has_state(path: str | os.PathLike) -> bool:
    """True when ``path`` holds a saved state (an interrupted write is completed or discarded
    first, so a committed checkpoint is found even if the process died while moving it in)."""
    path = Path(path)
    if not path.is_dir() and not path.parent.is_dir():
        return False
    recover(path)
    return (path / CONFIG).is_file()
