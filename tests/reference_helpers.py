"""Small generated data sets for the reference/ and datasets tests.

``fashion_like``: images whose class is written into them (a bright band at rows 2k..2k+3 for
class k, on noise), so a network can learn them quickly. ``write_monkeys_tree``: Kaggle's
10 Monkey Species layout with tiny JPEGs and a ``monkey_labels.txt`` padded like the real one;
``write_learnable_monkeys_tree``: the same layout with classes a network learns (shape and colour).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

from scratchconv.data.synthetic import LEARNABLE_CLASSES, write_learnable_monkeys_tree  # noqa: E402,F401

# In the real file's format (Kaggle, slothkong/10-monkey-species): cells padded with spaces, a tab
# after the Latin name, header names padded too.
MONKEY_LABELS = """\
Label,  Latin Name           , Common Name                   , Train Images , Validation Images
n0   , alouatta_palliata\t, mantled_howler                , 131          , 26
n1   , erythrocebus_patas\t, patas_monkey                  , 139          , 28
n2   , cacajao_calvus\t, bald_uakari                   , 137          , 27
n3   , macaca_fuscata\t, japanese_macaque              , 152          , 30
n4   , cebuella_pygmea\t, pygmy_marmoset                , 131          , 26
n5   , cebus_capucinus\t, white_headed_capuchin         , 141          , 28
n6   , mico_argentatus\t, silvery_marmoset              , 132          , 26
n7   , saimiri_sciureus\t, common_squirrel_monkey        , 142          , 28
n8   , aotus_nigriceps\t, black_headed_night_monkey     , 133          , 27
n9   , trachypithecus_johnii, nilgiri_langur                , 132          , 26
"""


def fashion_like(n, rng):
    """``(x, y)``: n images (n, 28, 28) uint8 with the label drawn in, labels (n,) uint8 in 0..9."""
    y = rng.integers(0, 10, n).astype(np.uint8)  # (n,)
    x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)  # (n, 28, 28) background noise
    for k in range(10):
        x[y == k, 2 * k:2 * k + 4, :] += 150  # class k: bright rows 2k..2k+3
    return x, y


def write_fashion_dir(directory, n_train=5200, n_test=200, seed=0):
    """Write a Fashion-MNIST look-alike (the four IDX .gz files) into ``directory``."""
    from scratchconv.data import write_fashion_mnist

    rng = np.random.default_rng(seed)
    return write_fashion_mnist(directory, fashion_like(n_train, rng), fashion_like(n_test, rng))


def write_monkeys_tree(root, n_train=3, n_valid=2, size=(40, 30), seed=0):
    """Kaggle's layout under ``root``: labels file, n_train/n_valid JPEGs per class n0..n9."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "monkey_labels.txt").write_text(MONKEY_LABELS)
    for split, count in (("training/training", n_train), ("validation/validation", n_valid)):
        for k in range(10):
            folder = root / split / f"n{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)  # (H, W, 3)
                pixels[..., k % 3] = 25 * k  # a class-dependent channel
                Image.fromarray(pixels).save(folder / f"n{k}_{i:03d}.jpg", quality=90)
    return root


# A class a network can tell apart whatever the augmentation does to it: (RGB colour, shape).
def run_module(module, *args, env=None, timeout=300):
    """Run ``python -m module args`` in a fresh interpreter from the repository root."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
