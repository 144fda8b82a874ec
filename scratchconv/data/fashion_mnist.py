"""Fashion-MNIST from IDX files, in pure NumPy (TensorFlow is optional).

    from scratchconv.data import load_fashion_mnist, split_and_standardize
    (x_train_all, y_train_all), (x_test, y_test) = load_fashion_mnist()   # uint8
    data = split_and_standardize(x_train_all, y_train_all, x_test, y_test)
    data.x_train.shape   # (55000, 28, 28, 1) float32, data.x_valid (5000, ...), data.x_test (10000, ...)

Where the data comes from (``load_fashion_mnist``):

1. ``data_dir`` when given (the four ``.gz`` files under their original names), and nothing else;
2. otherwise Keras's cache folder, ``$KERAS_HOME/datasets/fashion-mnist`` (``~/.keras`` by default);
3. then ``/usr/share/datasets/fashion-mnist`` (Debian/Ubuntu: ``apt-get install dataset-fashion-mnist``);
4. then Keras's own download, ``keras.datasets.fashion_mnist.load_data()``, when Keras is installed.

Every file is checked (IDX magic number, dimensions, image/label counts, labels 0-9). Debian
recompressed the archives, so nothing here compares archive checksums: the checks are on the
contents. When no place has usable data, ``DatasetError`` lists every place tried and why it failed.

IDX format (http://yann.lecun.com/exdb/mnist/): big-endian; a 4-byte magic number ``0x0000TTDD``
(TT = 0x08 for unsigned bytes, DD = number of dimensions: 2051 = images (N, 28, 28), 2049 = labels
(N,)), then DD 4-byte sizes, then the values in C order.
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .._atomic import write_bytes_atomically

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, rows, cols)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
IDX_UBYTE = 0x08
NUM_CLASSES = 10
IMAGE_SIZE = 28

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
DOWNLOAD_URLS = (
    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/  (Keras's mirror)",
    "https://github.com/zalandoresearch/fashion-mnist#get-the-data  (the original)",
)
CLASS_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DatasetError(FileNotFoundError):
    """No usable copy of a data set: files missing, or present but failing validation."""


class FashionMNIST(NamedTuple):
    """The article's split, standardised: float32 NHWC images, uint8 labels, and the statistics."""

    x_train: np.ndarray  # (N_train - n_valid, 28, 28, 1) float32
    y_train: np.ndarray  # (N_train - n_valid,) uint8
    x_valid: np.ndarray  # (n_valid, 28, 28, 1) float32
    y_valid: np.ndarray  # (n_valid,) uint8
    x_test: np.ndarray  # (N_test, 28, 28, 1) float32
    y_test: np.ndarray  # (N_test,) uint8
    mean: float  # mean of every pixel of x_train (before scaling), 0..255
    std: float  # population standard deviation of the same pixels


# --------------------------------------------------------------------------- IDX files
def read_idx(path) -> np.ndarray:
    """Read an unsigned-byte IDX file (gzipped when the name ends in ``.gz``).

    Returns the array with the shape the header gives, dtype uint8. Raises ``ValueError`` naming
    the file for a broken gzip stream, an unknown magic number, or a payload of the wrong length.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                data = bytearray(f.read())
        else:
            data = bytearray(path.read_bytes())
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ValueError(f"{path}: not a readable gzip file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path}: not an IDX file (first bytes {bytes(data[:4]).hex()})")
    type_code, ndim = data[2], data[3]
    if type_code != IDX_UBYTE or ndim == 0:
        raise ValueError(f"{path}: IDX magic number {int.from_bytes(data[:4], 'big')}; "
                         f"only unsigned-byte files are supported (2049 labels, 2051 images)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64))
    if len(data) - header != expected:
        raise ValueError(f"{path}: header says shape {shape} ({expected} bytes) but the file "
                         f"holds {len(data) - header} bytes of data")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)  # shape from header


def write_idx(path, array) -> None:
    """Write a uint8 array as an IDX file (gzipped when ``path`` ends in ``.gz``), atomically.

    Used by the tests to make small Fashion-MNIST look-alikes; ``read_idx`` reads it back.
    """
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"write_idx: array must be uint8, got {array.dtype}")
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: array must have 1 to 255 dimensions, got {array.ndim}")
    payload = bytes([0, 0, IDX_UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload += array.tobytes()
    path = Path(path)
    if path.suffix == ".gz":
        payload = gzip.compress(payload, compresslevel=1, mtime=0)
    write_bytes_atomically(path, payload)


def write_fashion_mnist(directory, train, test) -> Path:
    """Write ``train = (images, labels)`` and ``test = (images, labels)`` as the four IDX .gz files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = train, test
    for key, array in (("train_images", x_train), ("train_labels", y_train),
                       ("test_images", x_test), ("test_labels", y_test)):
        write_idx(directory / FILES[key], array)
    return directory


# --------------------------------------------------------------------------- checks
def check_fashion_mnist(x_train, y_train, x_test, y_test) -> None:
    """Raise ``ValueError`` unless the four arrays look like Fashion-MNIST.

    Images (N, 28, 28) uint8, labels (N,) uint8 in 0..9, the same N for images and labels.
    """
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8 or y.dtype != np.uint8:
            raise ValueError(f"{split}: expected uint8 images and labels, got {x.dtype} and {y.dtype}")
        if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"{split} images: expected shape (N, 28, 28), got {x.shape}")
        if y.ndim != 1:
            raise ValueError(f"{split} labels: expected shape (N,), got {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"{split}: {len(x)} images but {len(y)} labels")
        if len(x) == 0:
            raise ValueError(f"{split}: no images")
        if y.max() >= NUM_CLASSES:
            raise ValueError(f"{split} labels: expected 0..9, found {int(y.max())}")


def read_fashion_mnist_dir(directory):
    """Read and check the four IDX files in ``directory``; ``((x, y), (x, y))`` uint8.

    Raises ``FileNotFoundError`` listing the missing files, ``ValueError`` for bad contents.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError("no such folder")
    missing = [name for name in FILES.values() if not (directory / name).is_file()]
    if missing:
        raise FileNotFoundError("missing " + ", ".join(missing))
    arrays = {}
    for key, name in FILES.items():
        array = read_idx(directory / name)
        magic = IMAGES_MAGIC if key.endswith("images") else LABELS_MAGIC
        if array.ndim != (3 if magic == IMAGES_MAGIC else 1):
            raise ValueError(f"{directory / name}: expected IDX magic number {magic}, "
                             f"found {0x0800 + array.ndim}")
        arrays[key] = array
    train = (arrays["train_images"], arrays["train_labels"])  # (N, 28, 28), (N,)
    test = (arrays["test_images"], arrays["test_labels"])  # (M, 28, 28), (M,)
    check_fashion_mnist(*train, *test)
    return train, test


# --------------------------------------------------------------------------- loading
def keras_cache_dir() -> Path:
    """Where ``keras.datasets.fashion_mnist`` keeps its files: ``$KERAS_HOME/datasets/fashion-mnist``."""
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / "datasets" / "fashion-mnist"


def _how_to_get_it() -> str:
    return ("How to get Fashion-MNIST:\n"
            "  - Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
            f"(installs {DEBIAN_DIR})\n"
            "  - or download the four files " + ", ".join(FILES.values()) + " from\n"
            + "".join(f"      {url}\n" for url in DOWNLOAD_URLS)
            + "    and pass their folder as data_dir (--data-dir DIR).")


def _download_with_keras():
    from .._tensorflow import import_keras  # noqa: PLC0415 - optional; only this fallback needs Keras

    keras = import_keras()
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    arrays = [np.asarray(a, dtype=np.uint8) for a in (x_train, y_train, x_test, y_test)]
    check_fashion_mnist(*arrays)
    return (arrays[0], arrays[1]), (arrays[2], arrays[3])


def load_fashion_mnist(data_dir=None, *, download=True, return_source=False):
    """Load Fashion-MNIST as ``((x_train, y_train), (x_test, y_test))``, like Keras's ``load_data``.

    Parameters
    ----------
    data_dir : path or None
        A folder with the four IDX ``.gz`` files. When given, only this folder is read.
    download : bool
        When ``data_dir`` is None and no local copy is found, let Keras download the data
        (only if Keras is installed). Off in tests, to keep them offline and fast.
    return_source : bool
        Also return a string saying where the data came from.

    Returns
    -------
    x_train (N, 28, 28) uint8, y_train (N,) uint8 in 0..9, x_test (M, 28, 28), y_test (M,)
    (60,000 and 10,000 for the real data set); with ``return_source``, ``(data, source)``.

    Raises
    ------
    DatasetError
        No usable copy: the message lists every place tried, why each failed, and how to get the data.
    """
    if data_dir is not None:
        places = [(Path(data_dir), "data_dir")]
    else:
        places = [(keras_cache_dir(), "Keras's cache"), (DEBIAN_DIR, "Debian's dataset-fashion-mnist")]
    tried = []
    for directory, what in places:
        try:
            data = read_fashion_mnist_dir(directory)
        except (OSError, ValueError) as exc:
            tried.append(f"{directory} ({what}): {exc}")
            if isinstance(exc, ValueError) and data_dir is None:
                warnings.warn(f"Fashion-MNIST in {directory} is unusable: {exc}", stacklevel=2)
            continue
        return (data, str(directory)) if return_source else data
    if data_dir is None:
        if not download:
            tried.append("Keras's download: not attempted (download=False)")
        else:
            try:
                data = _download_with_keras()
            except ImportError:
                tried.append("Keras's download: Keras is not installed")
            except Exception as exc:  # noqa: BLE001 - any failure (network, file, format) is reported
                tried.append(f"Keras's download: failed ({type(exc).__name__}: {exc})")
            else:
                source = f"Keras's download, cached in {keras_cache_dir()}"
                return (data, source) if return_source else data
    raise DatasetError("No usable copy of Fashion-MNIST. Tried:\n"
                       + "".join(f"  - {line}\n" for line in tried) + _how_to_get_it())


# --------------------------------------------------------------------------- the article's split
def split_and_standardize(x_train_all, y_train_all, x_test, y_test, n_valid=5000) -> FashionMNIST:
    """The article's preprocessing: hold out the first ``n_valid`` training images, standardise.

    ``x_valid = x_train_all[:n_valid]``, ``x_train = x_train_all[n_valid:]``; one mean ``mu`` and one
    population standard deviation ``sigma`` over every pixel of ``x_train`` (what sklearn's
    ``StandardScaler`` fits on ``x_train.reshape(-1, 1)``), then ``(x - mu) / sigma`` for all three
    sets, float32, reshaped to NHWC ``(N, 28, 28, 1)``. mu and sigma are exact: they are computed
    in float64 from the histogram of the uint8 pixels.
    """
    x_train_all = np.asarray(x_train_all)
    if x_train_all.dtype != np.uint8:
        raise TypeError(f"split_and_standardize: x_train_all must be uint8, got {x_train_all.dtype}")
    if not 0 < n_valid < len(x_train_all):
        raise ValueError(f"split_and_standardize: n_valid must be in 1..{len(x_train_all) - 1} "
                         f"(there are {len(x_train_all)} training images), got {n_valid}")
    x_valid, x_train = x_train_all[:n_valid], x_train_all[n_valid:]  # (n_valid, 28, 28), (N - n_valid, 28, 28)
    y_valid, y_train = y_train_all[:n_valid], y_train_all[n_valid:]  # (n_valid,), (N - n_valid,)
    counts = np.bincount(x_train.ravel(), minlength=256).astype(np.float64)  # (256,) pixel histogram
    values = np.arange(256, dtype=np.float64)  # (256,)
    mean = float(counts @ values / counts.sum())
    std = float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))
    if std == 0.0:
        raise ValueError("split_and_standardize: every training pixel has the same value; cannot standardise")
    mean32, std32 = np.float32(mean), np.float32(std)

    def scale(x):
        return ((x.astype(np.float32) - mean32) / std32).reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 1)  # (N, 28, 28, 1)

    return FashionMNIST(scale(x_train), y_train, scale(x_valid), y_valid, scale(np.asarray(x_test)),
                        np.asarray(y_test), mean, std)
