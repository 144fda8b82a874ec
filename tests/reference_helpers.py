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
LEARNABLE_CLASSES = [((220, 40, 40), "disc"), ((40, 200, 60), "square"), ((50, 80, 230), "stripes"),
                     ((230, 210, 40), "ring")]


def _draw(shape, colour, height, width, rng):
    """(height, width, 3) uint8: the class's shape in its colour, placed at random, on grey noise."""
    image = rng.integers(70, 130, (height, width, 3)).astype(np.float64)  # (H, W, 3) grey noise
    yy, xx = np.mgrid[0:height, 0:width]
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    r = rng.uniform(0.25, 0.35) * min(height, width)
    distance = np.hypot(yy - cy, xx - cx)
    mask = {"disc": distance <= r, "ring": (distance <= r) & (distance >= 0.55 * r),
            "square": (np.abs(yy - cy) <= r) & (np.abs(xx - cx) <= r),
            "stripes": (np.abs(yy - cy) <= 1.3 * r) & (xx // 4 % 2 == 0)}[shape]
    image[mask] = np.asarray(colour) + rng.normal(0, 12, (int(mask.sum()), 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_learnable_monkeys_tree(root, n_classes=4, n_train=16, n_valid=8, seed=0):
    """Kaggle's layout with classes a small network learns in a few epochs: class k is a shape in a
    colour of its own (``LEARNABLE_CLASSES``) at a random place on noise, in images of different sizes,
    JPEG and PNG (some named .JPG), and a ``monkey_labels.txt`` with CRLF line ends and padded cells."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rows = ["Label,  Latin Name           , Common Name      , Train Images , Validation Images"]
    rows += [f"n{k}   , {shape}_{k}\t, {shape} monkey     , {n_train:<12} , {n_valid}"
             for k, (_, shape) in enumerate(LEARNABLE_CLASSES[:n_classes])]
    (root / "monkey_labels.txt").write_bytes(("\r\n".join(rows) + "\r\n").encode())
    for split, count in (("training/training", n_train), ("validation/validation", n_valid)):
        for k, (colour, shape) in enumerate(LEARNABLE_CLASSES[:n_classes]):
            folder = root / split / f"n{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                height, width = int(rng.integers(36, 60)), int(rng.integers(36, 60))
                image = Image.fromarray(_draw(shape, colour, height, width, rng))
                if i % 3 == 0:
                    image.save(folder / f"{shape}_{i:03d}.png")
                else:
                    image.save(folder / f"{shape}_{i:03d}.{'JPG' if i % 3 == 1 else 'jpg'}", quality=92)
    return root


def run_module(module, *args, env=None, timeout=300):
    """Run ``python -m module args`` in a fresh interpreter from the repository root."""
    full_env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
