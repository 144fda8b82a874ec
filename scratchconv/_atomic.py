"""Files written atomically: to a temporary file in the same folder, then renamed over the target.

``os.replace`` within one folder is atomic, so a reader (or a run resumed after a crash) sees
either the previous complete file or the new complete file, never half of one. Every file
scratchconv, its training and the reference trainings write goes through here.
"""

import os
import uuid
from pathlib import Path


def replace_atomically(path, write_to, suffix=".tmp"):
    """Calls ``write_to(tmp)`` with a fresh hidden path next to ``path``, then renames it over ``path``.

    ``suffix`` is the temporary name's extension (Keras's ``model.save`` insists on ``.keras``).
    On any error the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}")
    try:
        write_to(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomically(path, write, text=False):
    """Calls ``write(f)`` on an open temporary file next to ``path``, syncs it, renames it over ``path``."""

    def write_to(tmp):
        with open(tmp, "w", newline="") if text else open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())

    replace_atomically(path, write_to)


def write_bytes_atomically(path, data):
    """``data`` (bytes) into ``path``, atomically."""
    write_atomically(path, lambda f: f.write(data))
