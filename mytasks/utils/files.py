"""Writing files so that a crash at any moment leaves the previous version readable.

Every file the project writes (checkpoints, run configs, exports) goes to a temporary file in
the target's folder, is flushed and fsynced, then renamed over the target; the folder is
fsynced so that the rename itself survives a power cut. A process killed mid-write leaves
the old file intact and, at worst, a ``.<name>.tmp-<pid>`` file beside it. A write that fails
(a full disk, a file-size limit) raises ``WriteFailed`` naming the file and the cause.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO

from mytasks.utils.errors import WriteFailed


def atomic_write(path: str, write: Callable[[IO[bytes]], None]) -> None:
    """Calls ``write(f)`` on a binary file that replaces ``path`` only once it is complete."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) or isinstance(e.__context__, OSError):  # torch.save wraps the OSError
            cause = e if isinstance(e, OSError) else e.__context__
            raise WriteFailed(f"cannot write {path}: {cause.strerror or cause}") from e
        raise
    _fsync_dir(folder)


def atomic_write_text(path: str, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened (some platforms): the rename still happened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
