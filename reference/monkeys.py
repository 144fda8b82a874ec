"""The article's 10 Monkey Species training (CNN with data augmentation), on Keras 3.

    python -m reference.monkeys --data-dir DIR [--model standard|separable] [--augmentation layers|legacy]
        [--epochs 10] [--batch-size 64] [--limit N] [--out DIR] [--seed 7] [--mixed-precision]
        [--strategy default|mirrored] [--logical-cpus N]

DIR has Kaggle's layout (https://www.kaggle.com/datasets/slothkong/10-monkey-species)::

    DIR/monkey_labels.txt                  Label, Latin Name, Common Name, Train Images, Validation Images
    DIR/training/training/n0 ... n9/       training images, one folder per class
    DIR/validation/validation/n0 ... n9/   validation images

Network (article): six 3x3 'same' ReLU Conv2D (32, 32, pool, 64, 64, pool, 128, 128, pool), Flatten,
Dense(128, relu), Dense(10, softmax) on 128x128x3 images, 4,482,730 parameters; Adam, categorical
cross-entropy, accuracy; batch 64, 10 epochs. ``--model separable``: the same network with
SeparableConv2D after the first layer (4,231,658 parameters).

``--augmentation layers`` (default): ``ImageDataGenerator`` is gone from Keras 3's public API, so
the images come from ``image_dataset_from_directory`` and the article's augmentation is rebuilt
from preprocessing layers applied to the training set only (see ``augmentation``; docs/reference.md
has the argument-by-argument mapping). ``--augmentation legacy``: the article's exact pipeline,
Keras 2's ``ImageDataGenerator(...).flow_from_directory`` as Keras 3 still ships it in
``keras.src.legacy.preprocessing.image`` (see ``legacy_iterators``), which scratchconv's
``scratchconv.data.ImageDataGenerator`` reproduces; the two pipelines can be compared on the same
data. There is no test set: the final evaluation is on the validation set, as the article's
``validation_data`` is.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from reference import runtime
from reference.outputs import train_and_report
from reference.runtime import keras, tf
from scratchconv.data import DatasetError

IMAGE_SIZE = (128, 128)  # the article's height, width
PARAMS = {"standard": 4_482_730, "separable": 4_231_658}
MODELS = tuple(PARAMS)
AUGMENTATIONS = ("layers", "legacy")
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what image_dataset_from_directory reads
LABEL_FILE = "monkey_labels.txt"
SPLITS = {"training": Path("training/training"), "validation": Path("validation/validation")}
# ImageDataGenerator(shear_range=0.2) draws a shear ANGLE in degrees, uniform in [-0.2, 0.2], and
# shears x by -sin(angle) * y; RandomShear takes that factor directly: sin(0.2 deg) = 0.00349.
SHEAR_FACTOR = math.sin(math.radians(0.2))

EXPECTED_LAYOUT = f"""Expected the Kaggle "10 Monkey Species" layout:
    DIR/{LABEL_FILE}              CSV: Label, Latin Name, Common Name, Train Images, Validation Images
    DIR/training/training/n0/*.jpg     one folder per Label (n0 ... n9), images inside
    ...
    DIR/validation/validation/n0/*.jpg the same classes
Get it from https://www.kaggle.com/datasets/slothkong/10-monkey-species
(kaggle datasets download -d slothkong/10-monkey-species; unzip) and pass the folder as --data-dir."""


def read_labels(label_file):
    """Read ``monkey_labels.txt`` with pandas: one row per class, whitespace around cells removed.

    The real file pads its cells with spaces and tabs (``"n0   "``, ``" alouatta_palliata\\t"``);
    column names and text cells are stripped, the image counts become integers.
    Raises ``DatasetError`` if the file is unreadable or has no ``Label`` column.
    """
    import pandas as pd

    try:
        labels = pd.read_csv(label_file, header=0, skipinitialspace=True, dtype=str)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {label_file}: {exc}\n{EXPECTED_LAYOUT}") from None
    labels.columns = [str(c).strip() for c in labels.columns]
    labels = labels.apply(lambda column: column.str.strip()).dropna(how="all")
    if "Label" not in labels.columns or labels["Label"].isna().any() or len(labels) == 0:
        raise DatasetError(f"{label_file}: needs a 'Label' column with one class folder name per row "
                           f"(found columns {list(labels.columns)})\n{EXPECTED_LAYOUT}")
    for column in ("Train Images", "Validation Images"):
        if column in labels.columns:
            labels[column] = pd.to_numeric(labels[column], errors="coerce").astype("Int64")
    return labels.reset_index(drop=True)


def check_layout(data_dir):
    """Check ``data_dir`` against Kaggle's layout; return ``(labels, {split: folder})``.

    Every problem found is listed in one ``DatasetError``, followed by the expected layout.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: no such folder\n{EXPECTED_LAYOUT}")
    label_file = data_dir / LABEL_FILE
    if not label_file.is_file():
        raise DatasetError(f"{label_file}: missing\n{EXPECTED_LAYOUT}")
    labels = read_labels(label_file)
    classes = list(labels["Label"])
    problems = []
    if len(set(classes)) != len(classes):
        problems.append(f"{label_file}: repeated labels in {classes}")
    folders = {}
    for split, relative in SPLITS.items():
        folder = folders[split] = data_dir / relative
        if not folder.is_dir():
            problems.append(f"{folder}: missing ({split} images)")
            continue
        present = sorted(p.name for p in folder.iterdir() if p.is_dir())
        for name in classes:
            class_dir = folder / name
            if not class_dir.is_dir():
                problems.append(f"{class_dir}: missing (class {name} is in {LABEL_FILE})")
            elif not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in class_dir.iterdir()):
                problems.append(f"{class_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        extra = sorted(set(present) - set(classes))
        if extra:
            problems.append(f"{folder}: folders {extra} are not labels in {LABEL_FILE}")
    if problems:
        raise DatasetError(f"{data_dir} is not a usable 10 Monkey Species folder:\n"
                           + "".join(f"  - {p}\n" for p in problems) + EXPECTED_LAYOUT)
    return labels, folders


def augmentation(seed: int) -> keras.Sequential:
    """The article's ``ImageDataGenerator`` arguments as Keras 3 preprocessing layers (training only).

    Same order as ImageDataGenerator composes them (rotation, shift, shear, zoom, then flip), each
    with bilinear interpolation (its ``order=1``) and ``fill_mode='nearest'``. Pixels in [0, 1]
    after Rescaling. Runs in float32 even under mixed precision.
    """
    layers = keras.layers
    fill = {"fill_mode": "nearest", "dtype": "float32"}
    return keras.Sequential([
        layers.Rescaling(1.0 / 255, dtype="float32"),                           # rescale=1./255
        layers.RandomRotation(40 / 360, seed=seed + 1, **fill),                 # rotation_range=40 (deg)
        layers.RandomTranslation(0.2, 0.2, seed=seed + 2, **fill),              # height/width_shift_range=0.2
        layers.RandomShear(x_factor=SHEAR_FACTOR, y_factor=0.0, seed=seed + 3, **fill),  # shear_range=0.2 (deg)
        layers.RandomZoom(0.2, 0.2, seed=seed + 4, **fill),                     # zoom_range=0.2, zx, zy apart
        layers.RandomFlip("horizontal", seed=seed + 5, dtype="float32"),        # horizontal_flip=True
    ], name="augmentation")


def make_datasets(folders, class_names, *, batch_size, seed, limit=None):
    """``(train, validation, n_train, n_validation)`` as batched ``tf.data`` datasets.

    Images are read by ``image_dataset_from_directory`` (classes in ``class_names`` order, one-hot
    labels, resized to 128x128 with 'nearest' like ``flow_from_directory``). Training: shuffled
    every epoch (seeded), batched, augmented; validation: in file order, batched, rescaled.
    ``limit`` keeps a fixed, seeded random subset of at most that many images per split.
    """
    def load(folder):
        dataset = keras.utils.image_dataset_from_directory(
            folder, labels="inferred", label_mode="categorical", class_names=class_names,
            image_size=IMAGE_SIZE, interpolation="nearest", batch_size=None, shuffle=False)
        count = int(dataset.cardinality())
        if limit is not None and limit < count:
            dataset = dataset.shuffle(count, seed=seed, reshuffle_each_iteration=False).take(limit)
            count = limit
        return dataset, count  # elements: (128, 128, 3) float32 0..255, (classes,) float32

    augment = augmentation(seed)
    rescale = keras.layers.Rescaling(1.0 / 255, dtype="float32")
    train, n_train = load(folders["training"])
    validation, n_validation = load(folders["validation"])
    train = (train.shuffle(n_train, seed=seed, reshuffle_each_iteration=True)
             .batch(batch_size)  # (B, 128, 128, 3)
             .map(lambda x, y: (augment(x, training=True), y))
             .prefetch(tf.data.AUTOTUNE))
    validation = (validation.batch(batch_size)
                  .map(lambda x, y: (rescale(x), y))
                  .prefetch(tf.data.AUTOTUNE))
    return train, validation, n_train, n_validation


def legacy_iterators(folders, class_names, *, batch_size, seed, limit=None):
    """``(train, validation, n_train, n_validation)``: the article's ``ImageDataGenerator`` pipeline.

    Keras 2's ``ImageDataGenerator`` (``keras.src.legacy.preprocessing.image``; its iterators are
    Keras 3 ``PyDataset``s): training ``ImageDataGenerator(**ARTICLE_AUGMENTATION)``, shuffled every
    epoch from ``seed`` (Keras seeds NumPy's global generator with ``seed + batches seen``);
    validation ``ImageDataGenerator(rescale=1/255)``, ``shuffle=False``. ``limit``: the same fixed
    subset of files as ``scratchconv train monkeys --limit`` (``scratchconv.data.subset_indices``),
    given to ``flow_from_dataframe``; without it, the article's ``flow_from_directory``.
    """
    import importlib

    import pandas as pd

    from scratchconv.data import ARTICLE_AUGMENTATION, list_image_folder, subset_indices

    # Keras is already imported, quietly (reference.runtime); its legacy module is not public API
    ImageDataGenerator = importlib.import_module("keras.src.legacy.preprocessing.image").ImageDataGenerator

    def flow(generator, folder, shuffle):
        common = dict(target_size=IMAGE_SIZE, classes=class_names, class_mode="categorical",
                      batch_size=batch_size, shuffle=shuffle, seed=seed, interpolation="nearest")
        if limit is None:
            return generator.flow_from_directory(str(folder), **common)
        _, filenames, labels, _ = list_image_folder(folder, class_names)
        kept = subset_indices(len(filenames), limit, seed)  # (at most limit,)
        frame = pd.DataFrame({"filename": [filenames[k] for k in kept],
                              "class": [class_names[labels[k]] for k in kept]})
        return generator.flow_from_dataframe(frame, str(folder), x_col="filename", y_col="class", **common)

    train = flow(ImageDataGenerator(**ARTICLE_AUGMENTATION), folders["training"], shuffle=True)
    validation = flow(ImageDataGenerator(rescale=1.0 / 255), folders["validation"], shuffle=False)
    return train, validation, train.samples, validation.samples


def build_model(num_classes: int = 10, *, kind: str = "standard", float32_output: bool = False) -> keras.Sequential:
    """The article's CNN for 128x128x3 images (kind 'standard'), or with SeparableConv2D after the
    first layer (kind 'separable'); ``float32_output`` as in ``fashion_mnist.build_model``."""
    if kind not in MODELS:
        raise ValueError(f"kind must be one of {MODELS}, got {kind!r}")
    layers = keras.layers

    def conv(filters):
        return (layers.SeparableConv2D if kind == "separable" else layers.Conv2D)(
            filters, 3, padding="same", activation="relu")

    return keras.Sequential([
        keras.Input(shape=(*IMAGE_SIZE, 3)),                                 # (N, 128, 128, 3)
        layers.Conv2D(32, 3, padding="same", activation="relu"), conv(32),
        layers.MaxPool2D(pool_size=2),                                       # (N, 64, 64, 32)
        conv(64), conv(64), layers.MaxPool2D(pool_size=2),                   # (N, 32, 32, 64)
        conv(128), conv(128), layers.MaxPool2D(pool_size=2),                 # (N, 16, 16, 128)
        layers.Flatten(),                                                    # (N, 32768)
        layers.Dense(128, activation="relu"),                                # (N, 128)
        layers.Dense(num_classes, activation="softmax",
                     dtype="float32" if float32_output else None),           # (N, num_classes)
    ], name="monkeys_cnn" if kind == "standard" else "monkeys_separable_cnn")


def compile_model(model) -> None:
    """The article's ``compile``: categorical cross-entropy, 'adam', accuracy."""
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m reference.monkeys",
                                     description="The article's 10 Monkey Species training (Keras 3).")
    parser.add_argument("--data-dir", required=True, metavar="DIR",
                        help="the Kaggle 10-monkey-species folder (with monkey_labels.txt)")
    parser.add_argument("--model", choices=MODELS, default="standard",
                        help="standard (the article's Conv2D network, 4,482,730 parameters) or separable "
                             "(SeparableConv2D after the first layer, 4,231,658)")
    parser.add_argument("--augmentation", choices=AUGMENTATIONS, default="layers",
                        help="layers (default): Keras 3 preprocessing layers; legacy: the article's own "
                             "ImageDataGenerator.flow_from_directory (keras.src.legacy.preprocessing.image)")
    runtime.add_common_arguments(parser, batch_size=64, out="runs/monkeys")
    args = parser.parse_args(argv)
    runtime.check_common_arguments(parser, args)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    rt = runtime.start(args)
    try:
        try:
            labels, folders = check_layout(args.data_dir)
        except DatasetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(labels.to_string())
        class_names = list(labels["Label"])
        make = legacy_iterators if args.augmentation == "legacy" else make_datasets
        train, validation, n_train, n_validation = make(
            folders, class_names, batch_size=args.batch_size, seed=args.seed, limit=args.limit)
        print(f"{n_train} training images, {n_validation} validation images, {len(class_names)} classes; "
              f"augmentation: {args.augmentation}")

        with rt.strategy.scope():
            model = build_model(len(class_names), kind=args.model, float32_output=rt.precision != "float32")
            compile_model(model)
        model.summary()
        train_and_report(
            model, args.out,
            fit_args={"x": train, "validation_data": validation, "shuffle": False},  # shuffled above
            evaluate_args={"x": validation},
            split="validation", epochs=args.epochs, batch_size=args.batch_size, verbose=args.verbose,
            plots=[("learning_curve_accuracy.png", ["accuracy", "val_accuracy"], (0, 1), args.epochs,
                    f"10 Monkey Species: accuracy ({args.model}, {args.augmentation})"),
                   ("learning_curve_loss.png", ["loss", "val_loss"], (0, 2.5), args.epochs,
                    f"10 Monkey Species: loss ({args.model}, {args.augmentation})")],
            run_info={"data_set": "10_monkey_species", "model": args.model, "augmentation": args.augmentation,
                      "data_dir": str(args.data_dir),
                      "class_names": class_names, "n_train": n_train, "n_validation": n_validation,
                      "limit": args.limit, "seed": args.seed, **rt.describe()},
        )
        return 0
    finally:
        runtime.finish()


if __name__ == "__main__":
    sys.exit(main())
