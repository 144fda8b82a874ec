"""Plumbing shared by the tutorials: paths, quick mode, saving figures, optional TensorFlow.

This is not part of the package and holds no convolution code: every tutorial
imports the convolutions themselves from ``scratchconv``.

Environment variables:

- ``SCRATCHCONV_QUICK=1``: tutorials that train or time use small sizes.
- ``SCRATCHCONV_FIGURES_DIR``: where figures go (default ``tutorials/figures``).
- ``SCRATCHCONV_REQUIRE_KERAS=1``: fail instead of skipping a Keras comparison when
  TensorFlow is missing (the test suite sets it: there the comparisons must run).
"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quiet TensorFlow's C++ start-up logging

TUTORIALS = Path(__file__).resolve().parent
ROOT = TUTORIALS.parent

# Run from a clone without `pip install -e .`: put the repository root first on the path.
if (ROOT / "scratchconv" / "__init__.py").exists() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib  # noqa: E402

from scratchconv._atomic import replace_atomically  # noqa: E402

INTERACTIVE = "ipykernel" in sys.modules  # inside Jupyter: show figures inline as well
if not INTERACTIVE:
    matplotlib.use("Agg")  # headless: figures only go to files

import matplotlib.pyplot as plt  # noqa: E402

QUICK = os.environ.get("SCRATCHCONV_QUICK", "") == "1"
REQUIRE_KERAS = os.environ.get("SCRATCHCONV_REQUIRE_KERAS", "") == "1"
FIGURES = Path(os.environ.get("SCRATCHCONV_FIGURES_DIR") or TUTORIALS / "figures")


def save(fig, name, dpi=100, colors=256):
    """Write ``fig`` to FIGURES/name (PNG, atomically: temporary file + os.replace).

    ``colors``: the PNG is reduced to a palette of that many colours (2-4x smaller files, no
    visible change for plots); None keeps full colour.
    """
    path = FIGURES / name

    def write_to(tmp):
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
        if colors:
            from PIL import Image  # matplotlib depends on Pillow

            with Image.open(tmp) as im:
                im.convert("RGB").quantize(colors).save(tmp, format="PNG", optimize=True)

    replace_atomically(path, write_to, suffix=".png")  # the package's atomic write
    print(f"figure written: {path}")
    if INTERACTIVE:
        plt.show()
    else:
        plt.close(fig)
    return path


def keras_or_none():
    """``(tf, keras)`` when TensorFlow is installed; otherwise ``None`` and a note on how to get it.

    With SCRATCHCONV_REQUIRE_KERAS=1 a missing TensorFlow is an error, never a skip.
    """
    try:
        import tensorflow as tf
        import keras
    except ImportError as err:
        if REQUIRE_KERAS:
            raise ImportError(
                "SCRATCHCONV_REQUIRE_KERAS=1 but TensorFlow/Keras cannot be imported: "
                "pip install 'scratchconv[keras]'  (or: pip install tensorflow)"
            ) from err
        print(
            "NOTE: TensorFlow is not installed, so the comparison with Keras in this cell is skipped.\n"
            "      Everything else still runs. To enable it: pip install 'scratchconv[keras]'"
            "  (or: pip install tensorflow)"
        )
        return None
    return tf, keras


def max_abs_diff(a, b):
    """max |a - b| as a float (shapes must match exactly)."""
    import numpy as np

    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, f"shapes differ: {a.shape} vs {b.shape}"
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64)))) if a.size else 0.0
