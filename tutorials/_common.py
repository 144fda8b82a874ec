"""Plumbing shared by the tutorials: paths, quick mode, saving figures, optional TensorFlow.

This is not part of the package and holds no convolution code: every tutorial
imports the convolutions themselves from ``scratchconv``.

Run a tutorial from the repository root (tutorials/README.md lists them)::

    python tutorials/01_worked_example.py

Environment variables:

- ``SCRATCHCONV_QUICK=1``: tutorials that train or time use small sizes.
- ``SCRATCHCONV_FIGURES_DIR``: where figures go. Default ``runs/tutorial_figures/`` (``runs/`` is
  git-ignored), so running a tutorial never modifies the committed figures.
- ``SCRATCHCONV_REQUIRE_KERAS=1``: fail instead of skipping a Keras comparison when
  TensorFlow is missing (the test suite sets it: there the comparisons must run).

The committed figures in ``tutorials/figures/`` (the ones the README and the notebooks show) are
regenerated on purpose, all of them or some, with::

    python tutorials/make_figures.py            # every tutorial, full size, into tutorials/figures/
    python tutorials/make_figures.py 01 04      # only tutorials 01 and 04

which is the same as ``SCRATCHCONV_FIGURES_DIR=tutorials/figures python tutorials/01_....py``.

TensorFlow and Keras are imported through ``scratchconv._tensorflow`` (``keras_or_none``), which
keeps TensorFlow's start-up noise out of the output while real warnings and errors still show.
"""

import os
import sys
from pathlib import Path

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
COMMITTED_FIGURES = TUTORIALS / "figures"  # regenerated only by tutorials/make_figures.py
FIGURES = Path(os.environ.get("SCRATCHCONV_FIGURES_DIR") or ROOT / "runs" / "tutorial_figures")


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
    from scratchconv._tensorflow import import_keras, import_tensorflow

    try:
        tf, keras = import_tensorflow(), import_keras()  # without TensorFlow's start-up noise
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
