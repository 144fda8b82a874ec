"""A generated image tree in Kaggle's 10 Monkey Species layout, with classes a network can learn.

The real data set is a Kaggle download; this stands in for it in the tests, the tutorials and the
side-by-side comparisons (``python -m scratchconv.nn.compare --data monkeys``):

    python -m scratchconv.data.synthetic DIR [--classes 8] [--train 40] [--valid 12] [--seed 0]

Class k is a shape in a colour (``LEARNABLE_CLASSES``) at a random place and size on grey noise.
The first four classes differ in both shape and colour; classes 4-7 reuse the shapes in the other
classes' colours, so that with more than four classes neither the colour nor the shape alone
tells the class. The images have different sizes (36-59 pixels a side, resized by the loader),
are JPEG and PNG (some named .JPG), and ``monkey_labels.txt`` has CRLF line ends and padded cells,
as the real one's quirks.
"""

import argparse
from pathlib import Path

import numpy as np

RED, GREEN, BLUE, YELLOW = (220, 40, 40), (40, 200, 60), (50, 80, 230), (230, 210, 40)
LEARNABLE_CLASSES = [(RED, "disc"), (GREEN, "square"), (BLUE, "stripes"), (YELLOW, "ring"),
                     (GREEN, "disc"), (BLUE, "square"), (YELLOW, "stripes"), (RED, "ring")]


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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m scratchconv.data.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--classes", type=int, default=8, choices=range(1, len(LEARNABLE_CLASSES) + 1))
    parser.add_argument("--train", type=int, default=40, help="training images per class (default 40)")
    parser.add_argument("--valid", type=int, default=12, help="validation images per class (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    write_learnable_monkeys_tree(args.directory, args.classes, args.train, args.valid, args.seed)
    print(f"wrote {args.classes} classes x ({args.train} training + {args.valid} validation) images to "
          f"{args.directory}")


if __name__ == "__main__":
    main()
