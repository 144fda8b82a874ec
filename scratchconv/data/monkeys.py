"""Kaggle's 10 Monkey Species layout (https://www.kaggle.com/datasets/slothkong/10-monkey-species).

    DIR/monkey_labels.txt                  Label, Latin Name, Common Name, Train Images, Validation Images
    DIR/training/training/n0 ... n9/       training images, one folder per class
    DIR/validation/validation/n0 ... n9/   validation images

    from scratchconv.data import ImageDataGenerator, read_monkey_labels, monkey_folders
    labels = read_monkey_labels("DIR/monkey_labels.txt")   # [("n0", "alouatta_palliata", "mantled_howler"), ...]
    train_dir, valid_dir = monkey_folders("DIR")

The labels file is read as ``reference/monkeys.py`` reads it (with pandas there, the ``csv`` module
here): the first row names the columns, every cell is stripped of the spaces and tabs that pad it,
CRLF line ends are fine, blank rows are dropped, and a file without a ``Label`` column (or with an
empty label) is a ``DatasetError``.
"""

import csv
from pathlib import Path

from .fashion_mnist import DatasetError

LABEL_FILE = "monkey_labels.txt"
SPLITS = {"training": Path("training/training"), "validation": Path("validation/validation")}
COLUMNS = ("Label", "Latin Name", "Common Name")


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
