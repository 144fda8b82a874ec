"""scratchconv.data: IDX files, the Fashion-MNIST search order and errors, the article's split.

Pure NumPy: none of these tests needs TensorFlow. Expected bytes and statistics are derived
independently (IDX headers packed by hand, mean/std with plain float64 NumPy).
"""

import gzip
import struct
import sys

import numpy as np
import pytest

from reference_helpers import fashion_like, write_fashion_dir
from scratchconv.data import fashion_mnist as datasets
from scratchconv.data.fashion_mnist import (
    FILES,
    DatasetError,
    load_fashion_mnist,
    read_idx,
    split_and_standardize,
    write_idx,
)


@pytest.fixture
def no_default_places(tmp_path, monkeypatch):
    """Point Keras's cache and the Debian folder at empty places, so only the test's data counts."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setattr(datasets, "DEBIAN_DIR", tmp_path / "debian")
    return tmp_path


# --------------------------------------------------------------------------- IDX files
@pytest.mark.parametrize("name", ["images.idx3", "images-idx3-ubyte.gz"])
def test_idx_images_match_a_hand_packed_header(tmp_path, name):
    x = np.arange(2 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(2, 28, 28)
    write_idx(tmp_path / name, x)
    raw = (tmp_path / name).read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    assert raw[:16] == struct.pack(">IIII", 2051, 2, 28, 28)  # magic 0x00000803, then N, rows, cols
    assert raw[16:] == x.tobytes()
    y = read_idx(tmp_path / name)
    assert y.dtype == np.uint8 and y.shape == (2, 28, 28)
    np.testing.assert_array_equal(y, x)


def test_idx_labels_roundtrip_and_header(tmp_path):
    labels = np.array([9, 0, 0, 3, 0], dtype=np.uint8)
    write_idx(tmp_path / "labels.gz", labels)
    raw = gzip.decompress((tmp_path / "labels.gz").read_bytes())
    assert raw == struct.pack(">II", 2049, 5) + bytes([9, 0, 0, 3, 0])
    np.testing.assert_array_equal(read_idx(tmp_path / "labels.gz"), labels)
    assert not list(tmp_path.glob(".*")), "write_idx left a temporary file"


def test_write_idx_rejects_non_uint8(tmp_path):
    with pytest.raises(TypeError, match="uint8"):
        write_idx(tmp_path / "x.gz", np.zeros(3, dtype=np.float32))


@pytest.mark.parametrize("payload, message", [
    (struct.pack(">II", 0x01000801, 1) + b"\x00", "not an IDX file"),
    (struct.pack(">II", 0x00000D01, 1) + b"\x00\x00\x00\x00", "only unsigned-byte"),  # float32 IDX
    (struct.pack(">II", 2049, 5) + b"\x00\x01", "holds 2 bytes"),  # truncated
    (struct.pack(">II", 2049, 2) + b"\x00\x01\x02", "holds 3 bytes"),  # trailing bytes
    (struct.pack(">IH", 2051, 7), "truncated IDX header"),
])
def test_read_idx_rejects_bad_contents(tmp_path, payload, message):
    path = tmp_path / "bad.gz"
    path.write_bytes(gzip.compress(payload))
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_read_idx_rejects_bad_gzip(tmp_path):
    (tmp_path / "plain.gz").write_bytes(b"this is not gzip")
    with pytest.raises(ValueError, match="gzip"):
        read_idx(tmp_path / "plain.gz")
    whole = gzip.compress(struct.pack(">II", 2049, 100) + bytes(100))
    (tmp_path / "cut.gz").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="gzip"):
        read_idx(tmp_path / "cut.gz")


# --------------------------------------------------------------------------- loading
def test_load_from_data_dir_returns_what_was_written(tmp_path):
    rng = np.random.default_rng(1)
    train, test = fashion_like(50, rng), fashion_like(20, rng)
    datasets.write_fashion_mnist(tmp_path, train, test)
    ((x_train, y_train), (x_test, y_test)), source = load_fashion_mnist(tmp_path, return_source=True)
    assert source == str(tmp_path)
    for got, want in zip((x_train, y_train, x_test, y_test), (*train, *test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)


def test_explicit_data_dir_lists_missing_files_and_how_to_get_data(tmp_path):
    write_fashion_dir(tmp_path, n_train=20, n_test=10)
    (tmp_path / FILES["test_labels"]).unlink()
    (tmp_path / FILES["train_images"]).unlink()
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist(tmp_path)
    message = str(info.value)
    assert FILES["test_labels"] in message and FILES["train_images"] in message
    assert FILES["train_labels"] not in message.split("How to get")[0]
    assert "apt-get install dataset-fashion-mnist" in message
    assert "https://" in message
    # an explicit data_dir is the only place looked at: no fallback to other places
    assert "Keras's cache" not in message and "Debian" not in message.split("How to get")[0]


def test_missing_folder_is_reported(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        load_fashion_mnist(tmp_path / "nowhere")


def _corrupt(directory, key, array):
    write_idx(directory / FILES[key], array)


@pytest.mark.parametrize("case, message", [
    ("label 10", "expected 0..9, found 10"),
    ("count mismatch", "20 images but 19 labels"),
    ("27x28 images", r"expected shape \(N, 28, 28\)"),
    ("labels as images", "expected IDX magic number 2051, found 2049"),
    ("images as labels", "expected IDX magic number 2049, found 2051"),
])
def test_corrupt_data_dir_is_reported(tmp_path, case, message):
    write_fashion_dir(tmp_path, n_train=20, n_test=10)
    rng = np.random.default_rng(2)
    if case == "label 10":
        _corrupt(tmp_path, "test_labels", np.full(10, 10, dtype=np.uint8))
    elif case == "count mismatch":
        _corrupt(tmp_path, "train_labels", np.zeros(19, dtype=np.uint8))
    elif case == "27x28 images":
        _corrupt(tmp_path, "train_images", rng.integers(0, 255, (20, 27, 28)).astype(np.uint8))
    elif case == "labels as images":
        _corrupt(tmp_path, "train_images", np.zeros(20, dtype=np.uint8))
    else:
        _corrupt(tmp_path, "test_labels", np.zeros((10, 28, 28), dtype=np.uint8))
    with pytest.raises(DatasetError, match=message):
        load_fashion_mnist(tmp_path)


def test_search_order_keras_cache_first(no_default_places, tmp_path):
    write_fashion_dir(tmp_path / "keras_home" / "datasets" / "fashion-mnist", n_train=10, n_test=5, seed=3)
    write_fashion_dir(tmp_path / "debian", n_train=12, n_test=5, seed=4)
    (x_train, _), _ = load_fashion_mnist(download=False)
    assert len(x_train) == 10  # the cache's copy, not Debian's


def test_search_order_then_debian(no_default_places, tmp_path):
    write_fashion_dir(tmp_path / "debian", n_train=12, n_test=5, seed=4)
    ((x_train, _), _), source = load_fashion_mnist(download=False, return_source=True)
    assert len(x_train) == 12 and source == str(tmp_path / "debian")


def test_corrupt_cache_warns_and_falls_through_to_debian(no_default_places, tmp_path):
    cache = write_fashion_dir(tmp_path / "keras_home" / "datasets" / "fashion-mnist", n_train=10, n_test=5)
    (cache / FILES["train_labels"]).write_bytes(b"garbage")
    write_fashion_dir(tmp_path / "debian", n_train=12, n_test=5)
    with pytest.warns(UserWarning, match="unusable"):
        (x_train, _), _ = load_fashion_mnist(download=False)
    assert len(x_train) == 12


def test_nothing_anywhere_lists_every_place_tried(no_default_places, tmp_path, monkeypatch):
    def offline():
        raise RuntimeError("URL fetch failure: Name or service not known")

    monkeypatch.setattr(datasets, "_download_with_keras", offline)
    with pytest.raises(DatasetError) as info:
        load_fashion_mnist()
    message = str(info.value)
    assert str(tmp_path / "keras_home" / "datasets" / "fashion-mnist") in message
    assert str(tmp_path / "debian") in message
    assert "Keras's download: failed (RuntimeError: URL fetch failure" in message
    assert "apt-get install dataset-fashion-mnist" in message


def test_download_step_without_keras_is_reported(no_default_places, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # makes `import keras` raise ImportError
    with pytest.raises(DatasetError, match="Keras is not installed"):
        load_fashion_mnist()


def test_download_step_result_is_checked(no_default_places, monkeypatch):
    class FakeFashion:
        @staticmethod
        def load_data():
            x = np.zeros((4, 28, 28), np.uint8)
            return (x, np.array([0, 1, 2, 11], np.uint8)), (x, np.zeros(4, np.uint8))

    class FakeKeras:
        class datasets:
            fashion_mnist = FakeFashion

    monkeypatch.setitem(sys.modules, "keras", FakeKeras)
    with pytest.raises(DatasetError, match="found 11"):
        load_fashion_mnist()


def test_scratchconv_datasets_does_not_import_tensorflow():
    import subprocess

    code = "import sys, scratchconv.data; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --------------------------------------------------------------------------- the article's split
def test_split_and_standardize_matches_float64_numpy():
    rng = np.random.default_rng(5)
    (x_all, y_all), (x_test, y_test) = fashion_like(700, rng), fashion_like(90, rng)
    data = split_and_standardize(x_all, y_all, x_test, y_test, n_valid=100)
    train_pixels = x_all[100:].astype(np.float64)  # what StandardScaler fits: all training pixels
    mean, std = train_pixels.mean(), train_pixels.std()  # population std (ddof=0), as StandardScaler
    assert data.mean == pytest.approx(mean, rel=1e-12) and data.std == pytest.approx(std, rel=1e-12)
    for got, raw in ((data.x_train, x_all[100:]), (data.x_valid, x_all[:100]), (data.x_test, x_test)):
        assert got.dtype == np.float32 and got.shape == (len(raw), 28, 28, 1)
        np.testing.assert_allclose(got[..., 0], (raw - mean) / std, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(data.y_valid, y_all[:100])
    np.testing.assert_array_equal(data.y_train, y_all[100:])
    np.testing.assert_array_equal(data.y_test, y_test)
    assert abs(float(data.x_train.mean(dtype=np.float64))) < 1e-6
    assert float(data.x_train.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("n_valid", [0, 50, -1])
def test_split_rejects_bad_n_valid(n_valid):
    (x, y) = fashion_like(50, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_valid"):
        split_and_standardize(x, y, x, y, n_valid=n_valid)


def test_split_rejects_float_images():
    (x, y) = fashion_like(50, np.random.default_rng(0))
    with pytest.raises(TypeError, match="uint8"):
        split_and_standardize(x.astype(np.float32), y, x, y, n_valid=10)


@pytest.mark.skipif(not (datasets.DEBIAN_DIR / FILES["train_images"]).exists(),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_debian():
    (x_train, y_train), (x_test, y_test) = datasets.read_fashion_mnist_dir(datasets.DEBIAN_DIR)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    # Published facts about Fashion-MNIST: 6,000 / 1,000 images per class; pixel mean 0.2860 and
    # standard deviation 0.3530 of 255 over the 60,000 training images.
    np.testing.assert_array_equal(np.bincount(y_train), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [1000] * 10)
    counts = np.bincount(x_train.ravel(), minlength=256)  # (256,) pixel histogram, no big temporaries
    values = np.arange(256) / 255
    mean = counts @ values / counts.sum()
    assert mean == pytest.approx(0.2860, abs=5e-4)
    assert np.sqrt(counts @ (values - mean) ** 2 / counts.sum()) == pytest.approx(0.3530, abs=5e-4)
