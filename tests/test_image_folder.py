"""flow_from_directory against Keras 2's (keras.src.legacy.preprocessing.image.DirectoryIterator).

A generated folder holds what real folders hold: JPEGs and PNGs (also upper-case extensions),
grayscale and CMYK JPEGs, an RGBA PNG, a palette PNG, a 16-bit grayscale PNG, BMP/PPM/TIFF, a
nested subfolder, a PNG without an extension, a .txt file, an empty class folder and a stray image
beside the class folders. Keras's listing, labels and (unshuffled) batches are the oracle; then
the corrupt-file errors, the background thread, shuffling, and the monkey_labels.txt reader.
"""

import gc
import os
import threading

import numpy as np
import pytest
from keras.src.legacy.preprocessing import image as keras_image
from PIL import Image

from scratchconv.data import DatasetError, ImageDataGenerator, monkey_folders, read_monkey_labels

pytestmark = pytest.mark.filterwarnings("ignore:Please import `affine_transform`:DeprecationWarning",
                                        "ignore:Using \".tiff\" files")


def _image(rng, mode, width, height):
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width)).astype(np.uint16))
    channels = {"RGB": 3, "RGBA": 4, "L": 1, "CMYK": 4}[mode]
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("folder")
    rng = np.random.default_rng(0)
    a, b = root / "cat_a", root / "cat_b"
    (a / "sub").mkdir(parents=True)
    b.mkdir()
    (root / "empty").mkdir()
    _image(rng, "RGB", 30, 20).save(a / "a.jpg", quality=90)
    _image(rng, "RGB", 17, 31).save(a / "b.PNG")
    _image(rng, "RGBA", 25, 25).save(a / "c.png")
    _image(rng, "L", 40, 22).save(a / "d_gray.jpg")
    _image(rng, "CMYK", 19, 23).save(a / "e_cmyk.jpg")
    _image(rng, "RGB", 24, 20).save(a / "noext", format="PNG")
    (a / "notes.txt").write_text("not an image")
    _image(rng, "RGB", 13, 9).save(a / "sub" / "f.bmp")
    _image(rng, "RGB", 24, 20).save(b / "x.ppm")
    _image(rng, "RGB", 50, 44).convert("P").save(b / "p.png")
    _image(rng, "I;16", 21, 18).save(b / "deep16.png")
    _image(rng, "RGB", 24, 20).save(b / "same_size.jpg")
    _image(rng, "RGB", 11, 60).save(b / "tall.tif")
    _image(rng, "RGB", 24, 20).save(root / "stray.jpg")
    return root


def both(root, generator_kwargs=None, **kwargs):
    """(Keras's iterator, ours) over the same folder with the same arguments."""
    generator_kwargs = generator_kwargs or {}
    theirs = keras_image.ImageDataGenerator(**generator_kwargs).flow_from_directory(str(root), **kwargs)
    ours = ImageDataGenerator(**generator_kwargs).flow_from_directory(root, **kwargs)
    return theirs, ours


def assert_same_listing(theirs, ours):
    assert ours.filenames == theirs.filenames
    assert ours.filepaths == theirs.filepaths
    assert ours.class_indices == theirs.class_indices
    assert ours.classes.dtype == theirs.classes.dtype
    np.testing.assert_array_equal(ours.classes, theirs.classes)
    assert (ours.samples, ours.num_classes, len(ours)) == (theirs.samples, theirs.num_classes, len(theirs))
    assert ours.image_shape == theirs.image_shape


def assert_same_batches(theirs, ours, count):
    for _ in range(count):
        expected, got = next(theirs), next(ours)
        expected, got = (expected, got) if isinstance(expected, tuple) else ((expected,), (got,))
        assert len(got) == len(expected)
        for e, g in zip(expected, got):
            assert g.dtype == e.dtype and g.shape == e.shape
            np.testing.assert_array_equal(g, e)


# ----------------------------------------------------------------------------- listing and labels


@pytest.mark.parametrize("kwargs", [
    {}, {"classes": ["cat_b", "empty", "cat_a", "missing"]}, {"follow_links": True}, {"batch_size": 4}])
def test_listing_equals_keras(tree, kwargs, capsys):
    theirs, ours = both(tree, shuffle=False, **kwargs)
    assert_same_listing(theirs, ours)
    assert ours.skipped == ["cat_a/noext", "cat_a/notes.txt"]
    printed = capsys.readouterr().out.splitlines()
    assert printed[-2] == printed[-3] == f"Found {ours.samples} images belonging to {ours.num_classes} classes."
    assert printed[-1].startswith("Skipped 2 files without an image extension")
    assert ours.class_indices.get("empty") is not None and "empty/" not in "".join(ours.filenames)


@pytest.mark.parametrize("subset", ["training", "validation"])
def test_validation_split_equals_keras(tree, subset):
    theirs, ours = both(tree, {"validation_split": 0.3, "rescale": 1 / 255}, subset=subset, shuffle=False,
                        target_size=(8, 9), batch_size=3)
    assert_same_listing(theirs, ours)
    assert_same_batches(theirs, ours, len(ours) + 1)


def test_symlinked_subfolders_follow_keras(tree, tmp_path):
    root = tmp_path / "links"
    (root / "k").mkdir(parents=True)
    os.symlink(tree / "cat_b", root / "k" / "linked")
    for follow_links in (False, True):
        theirs, ours = both(root, follow_links=follow_links, shuffle=False)
        assert_same_listing(theirs, ours)
        assert ours.samples == (5 if follow_links else 0)


# ----------------------------------------------------------------------------- pixels


@pytest.mark.parametrize("color_mode", ["rgb", "grayscale", "rgba"])
@pytest.mark.parametrize("interpolation", ["nearest", "bilinear", "bicubic", "lanczos"])
def test_batches_equal_keras(tree, color_mode, interpolation):
    theirs, ours = both(tree, {"rescale": 1 / 255}, target_size=(20, 24), color_mode=color_mode,
                        interpolation=interpolation, shuffle=False, batch_size=4)
    assert ours.cached
    assert_same_batches(theirs, ours, len(ours) + 2)  # into the second epoch


@pytest.mark.parametrize("class_mode", ["categorical", "binary", "sparse", "input", None])
def test_class_modes_dtypes_and_uncached_decoding_equal_keras(tree, class_mode):
    for generator_kwargs, cache_bytes in (({}, None), ({"dtype": "float64", "rescale": 0.5}, 0)):
        theirs = keras_image.ImageDataGenerator(**generator_kwargs).flow_from_directory(
            str(tree), target_size=(7, 5), class_mode=class_mode, shuffle=False, batch_size=5,
            keep_aspect_ratio=True)
        ours = ImageDataGenerator(**generator_kwargs).flow_from_directory(
            tree, target_size=(7, 5), class_mode=class_mode, shuffle=False, batch_size=5,
            keep_aspect_ratio=True, cache_bytes=cache_bytes)
        assert ours.cached == (cache_bytes is None)
        assert_same_batches(theirs, ours, len(ours))


@pytest.mark.parametrize("order", [0, 1])
def test_augmented_batches_equal_keras_given_the_same_draws(tree, order, monkeypatch):
    """Keras's own random parameters, replayed into ours: the same augmented batches."""
    config = dict(rescale=1 / 255, rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
                  shear_range=0.2, zoom_range=0.2, horizontal_flip=True, interpolation_order=order)
    theirs_gen, ours_gen = keras_image.ImageDataGenerator(**config), ImageDataGenerator(**config)
    drawn = []
    keras_draw = theirs_gen.get_random_transform
    monkeypatch.setattr(theirs_gen, "get_random_transform", lambda shape, seed=None: drawn.append(
        keras_draw(shape, seed)) or drawn[-1])
    replay = iter(drawn)
    monkeypatch.setattr(ours_gen, "get_random_transform", lambda shape, seed=None, rng=None: next(replay))
    theirs = theirs_gen.flow_from_directory(str(tree), target_size=(16, 16), shuffle=False, batch_size=4, seed=1)
    ours = ours_gen.flow_from_directory(tree, target_size=(16, 16), shuffle=False, batch_size=4, seed=1)
    expected_batches = [next(theirs) for _ in range(len(theirs))]  # all drawn before ours starts
    for expected, y_expected in expected_batches:
        got, y_got = next(ours)
        np.testing.assert_array_equal(y_got, y_expected)
        if order == 0:
            np.testing.assert_array_equal(got, expected)
        else:  # as test_augment's bound: 1e-5 of the value range (1 after rescale); bitwise today
            np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    ours.close()


# ----------------------------------------------------------------------------- corrupt files


def _copy_tree(tree, tmp_path):
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(tree, root)
    return root


@pytest.mark.parametrize("cache_bytes", [None, 0])
def test_a_corrupt_image_is_refused_by_name_at_listing(tree, tmp_path, cache_bytes):
    root = _copy_tree(tree, tmp_path)
    (root / "cat_b" / "broken.jpg").write_bytes(b"this is no jpeg")
    with pytest.raises(DatasetError, match=r"cat_b/broken\.jpg"):
        ImageDataGenerator().flow_from_directory(root, cache_bytes=cache_bytes)


def test_a_truncated_image_is_refused_before_the_first_batch_when_cached(tree, tmp_path):
    root = _copy_tree(tree, tmp_path)
    data = (root / "cat_a" / "a.jpg").read_bytes()
    (root / "cat_a" / "a.jpg").write_bytes(data[: len(data) // 2])  # header fine, pixels cut
    with pytest.raises(DatasetError, match=r"cat_a/a\.jpg"):
        ImageDataGenerator().flow_from_directory(root, target_size=(8, 8))


def test_the_thread_hands_over_a_decoding_error_and_stops(tree, tmp_path):
    root = _copy_tree(tree, tmp_path)
    it = ImageDataGenerator().flow_from_directory(root, target_size=(8, 8), batch_size=4, shuffle=False,
                                                  cache_bytes=0)
    assert not it.cached
    next(it)
    data = (root / "cat_b" / "x.ppm").read_bytes()
    (root / "cat_b" / "x.ppm").write_bytes(data[:20])  # breaks after listing: found by the thread
    with pytest.raises(DatasetError, match=r"cat_b/x\.ppm"):
        for _ in range(2 * len(it)):
            next(it)
    assert not it.thread_alive
    with pytest.raises(DatasetError, match=r"cat_b/x\.ppm"):  # and again, not a hang
        next(it)


@pytest.mark.parametrize("raised, expected", [(KeyError("boom"), KeyError),
                                               (StopIteration("boom"), RuntimeError)])  # else a for loop just ends
def test_the_thread_hands_over_any_exception(tree, monkeypatch, raised, expected):
    it = ImageDataGenerator().flow_from_directory(tree, target_size=(8, 8), batch_size=2)
    def load(self, indices):
        raise raised

    monkeypatch.setattr(type(it), "_load", load)
    with pytest.raises(expected, match="boom"):
        next(it)
    assert not it.thread_alive


def test_the_thread_stops_on_close_and_when_dropped(tree):
    before = threading.active_count()
    with ImageDataGenerator().flow_from_directory(tree, target_size=(8, 8), batch_size=2, prefetch=2) as it:
        next(it)
        assert it.thread_alive
    assert not it.thread_alive
    it = ImageDataGenerator().flow_from_directory(tree, target_size=(8, 8), batch_size=2)
    next(it)
    thread = it._thread
    del it
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive() and threading.active_count() <= before


# ----------------------------------------------------------------------------- shuffling


@pytest.fixture(scope="module")
def numbered(tmp_path_factory):
    """11 one-colour images, the colour = the file's index in Keras's order."""
    root = tmp_path_factory.mktemp("numbered")
    for k in range(11):
        folder = root / f"c{k % 3}"
        folder.mkdir(exist_ok=True)
        Image.new("L", (3, 2), color=k).save(folder / f"img{k:02d}.png")
    return root


def test_epochs_reshuffle_keep_labels_and_repeat_with_the_seed(numbered):
    def run(seed, prefetch):
        it = ImageDataGenerator().flow_from_directory(numbered, target_size=(2, 3), color_mode="grayscale",
                                                      class_mode="sparse", batch_size=4, seed=seed,
                                                      prefetch=prefetch, verbose=False)
        batches = [next(it) for _ in range(3 * len(it))]
        it.close()
        return it, batches

    it, batches = run(5, 1)
    ids = [int(v) for x, _ in batches for v in x[:, 0, 0, 0]]
    labels = [int(v) for _, y in batches for v in y]
    by_value = {int(name[-6:-4]): it.classes[i] for i, name in enumerate(it.filenames)}
    assert labels == [by_value[k] for k in ids]  # each image keeps its label
    epochs = [ids[:11], ids[11:22], ids[22:]]
    assert all(sorted(e) == list(range(11)) for e in epochs) and len({tuple(e) for e in epochs}) == 3
    for (xa, ya), (xb, yb) in zip(batches, run(5, 2)[1]):  # same seed, more prefetch: same batches
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert [int(v) for x, _ in run(6, 1)[1][:3] for v in x[:, 0, 0, 0]] != ids[:11]


def test_without_a_safe_numba_threading_layer_batches_are_built_in_the_callers_thread(numbered, monkeypatch):
    """Numba's 'workqueue' layer aborts on parallel kernels from two threads: then no thread, same batches."""
    from scratchconv.data import batches

    def run():
        it = ImageDataGenerator(rotation_range=20).flow_from_directory(
            numbered, target_size=(2, 3), batch_size=4, seed=9, verbose=False)
        got = [next(it)[0] for _ in range(4)]
        threaded = it.thread_alive
        it.reset()  # a new epoch
        return got + [next(it)[0]], threaded

    threaded, had_thread = run()
    monkeypatch.setattr(batches, "background_thread_is_safe", lambda: False)
    synchronous, had_no_thread = run()
    assert had_thread and not had_no_thread
    for a, b in zip(threaded, synchronous):
        np.testing.assert_array_equal(a, b)


def test_an_empty_folder_gives_empty_batches_like_keras(tmp_path):
    (tmp_path / "only").mkdir()
    theirs, ours = both(tmp_path, target_size=(4, 4))
    assert_same_listing(theirs, ours)
    assert_same_batches(theirs, ours, 2)


def test_getitem_gives_the_epochs_batches(numbered):
    it = ImageDataGenerator(rotation_range=30).flow_from_directory(numbered, target_size=(2, 3), batch_size=4,
                                                                 seed=2, verbose=False)
    streamed = [next(it) for _ in range(2 * len(it))]
    it.close()
    for epoch in range(2):
        for b in range(len(it)):
            np.testing.assert_array_equal(it[b][0], streamed[epoch * len(it) + b][0])
        it.on_epoch_end()
    with pytest.raises(IndexError):
        it[len(it)]


def test_limit_keeps_a_fixed_seeded_subset_in_kerass_order(numbered):
    def flow(**kwargs):
        return ImageDataGenerator().flow_from_directory(numbered, target_size=(2, 3), color_mode="grayscale",
                                                        class_mode="sparse", batch_size=4, verbose=False, **kwargs)

    every = flow()
    kept = flow(limit=5, seed=1)
    assert kept.samples == 5 and len(kept) == 2 and kept.filenames == flow(limit=5, seed=1).filenames
    positions = [every.filenames.index(name) for name in kept.filenames]
    assert positions == sorted(positions)  # a subset, in Keras's order
    np.testing.assert_array_equal(kept.classes, every.classes[positions])
    assert flow(limit=5, seed=2).filenames != kept.filenames
    assert flow(limit=50, seed=1).filenames == every.filenames
    pixels = np.concatenate([kept[b][0] for b in range(len(kept))])[:, 0, 0, 0]  # each image's colour = its index
    np.testing.assert_array_equal(np.sort(pixels), np.sort([int(n[-6:-4]) for n in kept.filenames]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(limit=0), "limit"), (dict(limit=2.5), "limit"),
    (dict(target_size=(0, 5)), "target_size"), (dict(target_size=128), "target_size"),
    (dict(color_mode="cmyk"), "color_mode"), (dict(class_mode="raw"), "class_mode"),
    (dict(interpolation="area"), "interpolation"), (dict(subset="training"), "validation_split"),
    (dict(batch_size=0), "batch_size"), (dict(cache_bytes=-1), "cache_bytes"), (dict(seed=-3), "seed")])
def test_bad_arguments_are_refused_by_name(tree, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        ImageDataGenerator().flow_from_directory(tree, **kwargs)


def test_a_missing_folder_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        ImageDataGenerator().flow_from_directory(tmp_path / "nope")


# ----------------------------------------------------------------------------- 10 Monkey Species

KAGGLE_LABELS = (  # the real file's shape: padded cells, a tab, CRLF line ends
    "Label,  Latin Name           , Common Name                   , Train Images , Validation Images\r\n"
    "n0   , alouatta_palliata\t, mantled_howler                , 131          , 26\r\n"
    "n1   , erythrocebus_patas    , patas_monkey                  , 139          , 28\r\n"
    "\r\n"
    "n2   , cacajao_calvus        , bald_uakari                   , 137          , 27\r\n")


def test_monkey_labels_are_read_as_the_reference_reads_them(tmp_path):
    from reference.monkeys import read_labels

    path = tmp_path / "monkey_labels.txt"
    path.write_bytes(KAGGLE_LABELS.encode())
    labels = read_monkey_labels(path)
    assert labels == [("n0", "alouatta_palliata", "mantled_howler"), ("n1", "erythrocebus_patas", "patas_monkey"),
                      ("n2", "cacajao_calvus", "bald_uakari")]
    frame = read_labels(path)
    assert labels == list(zip(frame["Label"], frame["Latin Name"], frame["Common Name"]))


def test_bad_monkey_files_and_folders_are_named(tmp_path):
    path = tmp_path / "monkey_labels.txt"
    path.write_text("Class, Name\nn0, a\n")
    with pytest.raises(DatasetError, match="'Label' column"):
        read_monkey_labels(path)
    with pytest.raises(DatasetError, match="cannot read"):
        read_monkey_labels(tmp_path / "missing.txt")
    (tmp_path / "training" / "training").mkdir(parents=True)
    with pytest.raises(DatasetError, match="validation/validation"):
        monkey_folders(tmp_path)
    (tmp_path / "validation" / "validation").mkdir(parents=True)
    assert monkey_folders(tmp_path) == (tmp_path / "training/training", tmp_path / "validation/validation")
