"""Files written atomically: to a temporary file in the same folder, then renamed over the target.

``os.replace`` within one folder is atomic, so a reader (or a run resumed after a crash) sees
either the previous complete file or the new complete file, never half of one.
"""

import os
import tempfile


def write_atomically(path, write, text=False):
    """Calls ``write(f)`` on a temporary file next to ``path``, syncs it, renames it over ``path``.

    On any error the temporary file is removed and ``path`` is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    options = dict(mode="w", newline="") if text else dict(mode="wb")
    with tempfile.NamedTemporaryFile(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                     delete=False, **options) as f:
        try:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        except BaseException:
            f.close()
            os.unlink(f.name)
            raise
    os.replace(f.name, path)
