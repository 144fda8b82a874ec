"""Kaggle's 10 Monkey Species layout (https://www.kaggle.com/datasets/slothkong/10-monkey-species).

    DIR/monkey_labels.txt                  Label, Latin Name, Common Name, Train Images, Validation Images
    DIR/training/training/n0 ... n9/       training images, one folder per class
    DIR/validation/validation/n0 ... n9/   validation images

    from scratchconv.data import ImageDataGenerator, read_monkey_labels, monkey_folders
    labels = read_monkey_labels("DIR/monkey_labels.txt")   # [("n0", "alouatta_palliata", "mantled_howler"), ...]
    train_dir, valid_dir = monkey_folders("DIR")
    labels, train_dir, valid_dir = check_monkey_layout("DIR")  # every problem of the folder in one error
    train, valid, labels = monkey_iterators("DIR")            # the article's two flow_from_directory

The labels file is read as ``reference/monkeys.py`` reads it (with pandas there, the ``csv`` module
here): the first row names the columns, every cell is stripped of the spaces and tabs that pad it,
CRLF line ends are fine, blank rows are dropped, and a file without a ``Label`` column (or with an
empty label) is a ``DatasetError``.
"""

import csv
from pathlib import Path

from .fashion_mnist import DatasetError
from .image_folder import WHITE_LIST_FORMATS

LABEL_FILE = "monkey_labels.txt"
SPLITS = {"training": Path("training/training"), "validation": Path("validation/validation")}
COLUMNS = ("Label", "Latin Name", "Common Name")
IMAGE_SIZE = (128, 128)  # the article's target_size (height, width)
# The article's ImageDataGenerator arguments for the training images (the validation images: rescale only).
ARTICLE_AUGMENTATION = dict(rescale=1 / 255, rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                            shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode="nearest")
EXPECTED_LAYOUT = f"""expected Kaggle's 10 Monkey Species layout:
    DIR/{LABEL_FILE}              Label, Latin Name, Common Name, Train Images, Validation Images
    DIR/training/training/n0/*.jpg     one folder per Label (n0 ... n9), images inside
    DIR/validation/validation/n0/*.jpg the same classes
get it from https://www.kaggle.com/datasets/slothkong/10-monkey-species and pass the folder as --data-dir"""


def read_monkey_labels(path):
    """``[(label, latin_name, common_name), ...]`` from ``monkey_labels.txt``, in file order.

    Latin and common names are '' when the file lacks those columns (only ``Label`` is required).
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [[cell.strip() for cell in row] for row in csv.reader(f, skipinitialspace=True)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    rows = [row for row in rows if any(row)]  # blank lines and rows of only padding
    if not rows or "Label" not in rows[0]:
        found = rows[0] if rows else []
        raise DatasetError(f"{path}: needs a header row with a 'Label' column (found columns {found}); "
                           f"expected {', '.join(COLUMNS)}, Train Images, Validation Images")
    header, records = rows[0], rows[1:]
    where = {name: header.index(name) for name in COLUMNS if name in header}
    labels = []
    for row in records:
        cells = [row[where[name]] if name in where and where[name] < len(row) else "" for name in COLUMNS]
        if not cells[0]:
            raise DatasetError(f"{path}: a row has no label: {row}")
        labels.append(tuple(cells))
    if not labels:
        raise DatasetError(f"{path}: no classes listed under the header")
    return labels


def monkey_folders(data_dir):
    """``(training folder, validation folder)`` of the Kaggle layout under ``data_dir``; a
    ``DatasetError`` names whatever is missing."""
    data_dir = Path(data_dir)
    folders = tuple(data_dir / relative for relative in SPLITS.values())
    missing = [str(folder) for folder in folders if not folder.is_dir()]
    if missing:
        raise DatasetError(f"{data_dir}: missing {', '.join(missing)} (Kaggle's 10 Monkey Species layout: "
                           f"{LABEL_FILE}, training/training/n0..n9, validation/validation/n0..n9)")
    return folders


def _has_images(folder):
    """True when ``folder`` holds (at any depth) a file with an extension flow_from_directory reads."""
    return any(path.is_file() and path.name.lower().endswith(WHITE_LIST_FORMATS) for path in folder.rglob("*"))


def check_monkey_layout(data_dir):
    """``(labels, training folder, validation folder)`` of a Kaggle-layout folder, checked.

    Every problem is listed in one ``DatasetError``, followed by the expected layout: a missing
    folder or labels file, a labels file without a ``Label`` column, repeated labels, a class of
    the labels file without its folder or without images in either split, a folder that is not a
    label (hidden folders, such as ``.ipynb_checkpoints``, are ignored, as files without an image
    extension are skipped by ``flow_from_directory``).
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: no such folder; {EXPECTED_LAYOUT}")
    label_file = data_dir / LABEL_FILE
    if not label_file.is_file():
        raise DatasetError(f"{label_file}: missing; {EXPECTED_LAYOUT}")
    try:
        labels = read_monkey_labels(label_file)
    except DatasetError as error:
        raise DatasetError(f"{error}; {EXPECTED_LAYOUT}") from None
    classes = [row[0] for row in labels]
    problems = [f"{label_file}: repeated labels in {classes}"] if len(set(classes)) != len(classes) else []
    folders = tuple(data_dir / relative for relative in SPLITS.values())
    for split, folder in zip(SPLITS, folders):
        if not folder.is_dir():
            problems.append(f"{folder}: missing ({split} images)")
            continue
        for name in classes:
            class_dir = folder / name
            if not class_dir.is_dir():
                problems.append(f"{class_dir}: missing (class {name} is in {LABEL_FILE})")
            elif not _has_images(class_dir):
                problems.append(f"{class_dir}: no images (no file ending in {', '.join(WHITE_LIST_FORMATS)})")
        extra = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                       and p.name not in classes)
        if extra:
            problems.append(f"{folder}: folders {extra} are not labels in {LABEL_FILE}")
    if problems:
        raise DatasetError(f"{data_dir} is not a usable 10 Monkey Species folder:\n"
                           + "".join(f"  - {p}\n" for p in problems) + EXPECTED_LAYOUT)
    return labels, folders[0], folders[1]


def monkey_iterators(data_dir, image_size=IMAGE_SIZE, batch_size=64, seed=7, limit=None, verbose=True):
    """``(train, validation, labels)``: the article's two ``flow_from_directory`` iterators on ``data_dir``.

    train: ``ImageDataGenerator(**ARTICLE_AUGMENTATION)``, shuffled every epoch, seeded; validation:
    ``ImageDataGenerator(rescale=1/255)``, ``shuffle=False``. Both: classes in the labels file's
    order, one-hot labels, images resized to ``image_size`` with 'nearest', batches of
    ``batch_size`` (the last one smaller). ``limit``: at most that many images of each split, a fixed
    random subset drawn from ``seed``. Raises ``DatasetError`` for a folder that does not fit
    (``check_monkey_layout``) or an unreadable image (naming it).
    """
    from .augment import ImageDataGenerator

    labels, train_dir, valid_dir = check_monkey_layout(data_dir)
    common = dict(target_size=tuple(image_size), classes=[row[0] for row in labels], class_mode="categorical",
                  batch_size=batch_size, seed=seed, limit=limit, verbose=verbose)
    train = ImageDataGenerator(**ARTICLE_AUGMENTATION).flow_from_directory(train_dir, shuffle=True, **common)
    validation = ImageDataGenerator(rescale=1 / 255).flow_from_directory(valid_dir, shuffle=False, **common)
    return train, validation, labels
