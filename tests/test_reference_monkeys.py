"""reference.monkeys end to end on a generated tree of JPEGs, its augmentation, layout checks and errors."""

import contextlib
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from reference import monkeys, outputs
from reference.runtime import keras
from reference_helpers import run_module, write_monkeys_tree
from scratchconv.data import DatasetError

EPOCHS = 2


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    # one training and one validation image per class: the 128x128 network is the cost here
    return write_monkeys_tree(tmp_path_factory.mktemp("monkeys"), n_train=1, n_valid=1)


@pytest.fixture(scope="module")
def run(tree, tmp_path_factory):
    """One short training: (return code, printed text, run folder)."""
    out = tmp_path_factory.mktemp("run") / "monkeys"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        rc = monkeys.main(["--data-dir", str(tree), "--epochs", str(EPOCHS), "--batch-size", "10",
                           "--out", str(out), "--verbose", "2"])
    return rc, text.getvalue(), out


def test_parameter_count_matches_the_article():
    assert monkeys.build_model(10).count_params() == 4_482_730


def test_network_is_the_articles():
    model = monkeys.build_model(10)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" and c.activation.__name__ == "relu" for c in convs)
    assert [type(layer).__name__ for layer in model.layers].count("MaxPooling2D") == 3
    assert model.input_shape == (None, 128, 128, 3) and model.output_shape == (None, 10)
    monkeys.compile_model(model)
    assert type(model.optimizer).__name__ == "Adam"


def test_labels_file_with_padded_cells_is_read_cleanly(tree):
    labels = monkeys.read_labels(tree / "monkey_labels.txt")
    assert list(labels.columns) == ["Label", "Latin Name", "Common Name", "Train Images", "Validation Images"]
    assert list(labels["Label"]) == [f"n{k}" for k in range(10)]
    assert labels.loc[0, "Latin Name"] == "alouatta_palliata"  # the tab after it is gone
    assert labels.loc[9, "Common Name"] == "nilgiri_langur"
    assert int(labels.loc[3, "Train Images"]) == 152


def test_run_succeeds_and_prints_labels_and_results(run):
    rc, text, _ = run
    assert rc == 0
    assert "tensorflow" in text.splitlines()[0] and "Device: CPU" in text
    assert "mantled_howler" in text and "Common Name" in text  # the labels table
    assert "10 training images, 10 validation images, 10 classes" in text
    assert "Total params: 4,482,730" in text
    assert "validation accuracy" in text


def test_run_folder_has_every_output(run):
    _, _, out = run
    assert (out / "best_model.keras").exists()
    for split in ("train", "validation"):
        assert list((out / "logs" / split).glob("events.out.tfevents.*")), f"no TensorBoard events in logs/{split}"
    for name in ("learning_curve_accuracy.png", "learning_curve_loss.png"):
        png = Image.open(out / name)
        assert png.format == "PNG" and png.size == (640, 400)
    assert not [p.name for p in out.glob(".*")], "temporary files left in the run folder"
    lines = (out / "history.csv").read_text().splitlines()
    assert lines[0] == "epoch,accuracy,loss,val_accuracy,val_loss,epoch_seconds" and len(lines) == 1 + EPOCHS
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "validation" and metrics["params"] == 4_482_730
    assert metrics["class_names"] == [f"n{k}" for k in range(10)]
    assert metrics["n_train"] == 10 and metrics["n_validation"] == 10 and metrics["epochs_run"] == EPOCHS
    assert all(math.isfinite(metrics[k]["loss"]) for k in ("final_model", "best_checkpoint"))


def test_best_checkpoint_reloads_and_evaluates_to_the_saved_metrics(run, tree):
    _, _, out = run
    metrics = json.loads((out / "metrics.json").read_text())
    labels, folders = monkeys.check_layout(tree)
    _, validation, _, _ = monkeys.make_datasets(folders, list(labels["Label"]), batch_size=10, seed=7)
    model = keras.models.load_model(out / "best_model.keras")
    loss, accuracy = model.evaluate(validation, verbose=0)
    assert loss == pytest.approx(metrics["best_checkpoint"]["loss"], rel=1e-5)
    assert accuracy == pytest.approx(metrics["best_checkpoint"]["accuracy"], abs=1e-7)
    assert loss == pytest.approx(metrics["best_checkpoint"]["val_loss"], rel=1e-5)  # validation = evaluation set


def test_separable_model_is_the_same_network_with_separable_convolutions():
    from scratchconv.nn import monkeys_model

    model = monkeys.build_model(10, kind="separable")
    kinds = [type(layer).__name__ for layer in model.layers if "Conv" in type(layer).__name__]
    assert kinds == ["Conv2D"] + ["SeparableConv2D"] * 5
    assert model.count_params() == monkeys.PARAMS["separable"] == 4_231_658
    assert monkeys_model("separable").count_params() == 4_231_658  # scratchconv's, for the same network
    with pytest.raises(ValueError, match="kind must be one of"):
        monkeys.build_model(10, kind="depthwise")


@pytest.mark.parametrize("model, augmentation", [("separable", "layers"), ("standard", "legacy")])
def test_model_and_augmentation_options_run_end_to_end(tree, tmp_path, model, augmentation):
    out = tmp_path / "run"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        rc = monkeys.main(["--data-dir", str(tree), "--model", model, "--augmentation", augmentation,
                           "--epochs", "1", "--limit", "4", "--batch-size", "4", "--out", str(out), "--verbose", "0"])
    assert rc == 0
    assert f"augmentation: {augmentation}" in text.getvalue()
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["model"], metrics["augmentation"]) == (model, augmentation)
    assert metrics["params"] == monkeys.PARAMS[model] and metrics["n_train"] == 4 and metrics["n_validation"] == 4
    assert math.isfinite(metrics["final_model"]["loss"]) and (out / "best_model.keras").exists()


def test_legacy_pipeline_is_the_articles_and_keeps_scratchconvs_subset(tree):
    from scratchconv.data import ARTICLE_AUGMENTATION, ImageDataGenerator

    labels, folders = monkeys.check_layout(tree)
    names = list(labels["Label"])
    train, validation, n_train, n_validation = monkeys.legacy_iterators(folders, names, batch_size=4, seed=3)
    assert (n_train, n_validation) == (10, 10) and type(train).__name__ == "DirectoryIterator"
    generator = train.image_data_generator
    assert generator.rotation_range == ARTICLE_AUGMENTATION["rotation_range"] == 40
    assert generator.shear_range == 0.2 and generator.zoom_range == [0.8, 1.2] and generator.horizontal_flip
    assert generator.fill_mode == "nearest" and generator.rescale == pytest.approx(1 / 255)
    assert train.shuffle and not validation.shuffle and train.target_size == (128, 128)
    x, y = train[0]
    assert x.shape == (4, 128, 128, 3) and y.shape == (4, 10) and 0 <= x.min() and x.max() <= 1
    # validation (rescale only): the same pixels as scratchconv's flow_from_directory
    ours = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        folders["validation"], target_size=(128, 128), classes=names, batch_size=4, shuffle=False, verbose=False)
    np.testing.assert_allclose(validation[1][0], ours[1][0], rtol=1e-6)
    np.testing.assert_array_equal(validation[1][1], ours[1][1])
    # --limit: the files scratchconv's --limit keeps, given to flow_from_dataframe
    train, _, n_train, _ = monkeys.legacy_iterators(folders, names, batch_size=4, seed=3, limit=6)
    ours = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
        folders["training"], target_size=(128, 128), classes=names, seed=3, limit=6, verbose=False)
    assert n_train == 6 and train.filenames == ours.filenames and len(set(ours.filenames)) == 6


# --------------------------------------------------------------------------- augmentation
def test_augmentation_layers_are_the_articles_arguments():
    layers = monkeys.augmentation(seed=0).layers
    assert [type(layer).__name__ for layer in layers] == [
        "Rescaling", "RandomRotation", "RandomTranslation", "RandomShear", "RandomZoom", "RandomFlip"]
    rescale, rotate, shift, shear, zoom, flip = layers
    assert rescale.scale == pytest.approx(1 / 255)
    assert rotate.factor == pytest.approx((-40 / 360, 40 / 360))  # fractions of a full turn: +-40 degrees
    assert shift.height_factor == 0.2 and shift.width_factor == 0.2
    # ImageDataGenerator's shear_range is an angle in degrees; the shear factor is sin(0.2 deg)
    assert shear.x_factor == pytest.approx((-np.sin(np.deg2rad(0.2)), np.sin(np.deg2rad(0.2))))
    assert shear.y_factor == (0.0, 0.0)
    assert zoom.height_factor == 0.2 and zoom.width_factor == 0.2  # independent zx, zy as ImageDataGenerator
    assert flip.mode == "horizontal"
    assert all(layer.fill_mode == "nearest" for layer in (rotate, shift, shear, zoom))
    assert all(layer.interpolation == "bilinear" for layer in (rotate, shift, shear, zoom))


def test_augmentation_fills_nearest_and_only_trains():
    augment = monkeys.augmentation(seed=1)
    flat = np.full((8, 128, 128, 3), 100.0, dtype=np.float32)  # (8, 128, 128, 3)
    # 'nearest' fill repeats edge pixels: a flat image stays flat however it is moved ('constant' would add 0s)
    np.testing.assert_allclose(np.asarray(augment(flat, training=True)), 100 / 255, rtol=1e-5)
    image = np.random.default_rng(0).uniform(0, 255, (8, 128, 128, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(augment(image, training=False)), image / 255, rtol=1e-6)
    moved = np.asarray(augment(image, training=True))
    assert not np.allclose(moved, image / 255, atol=1e-2)


def test_limit_keeps_a_fixed_subset(tree):
    labels, folders = monkeys.check_layout(tree)
    train, validation, n_train, n_validation = monkeys.make_datasets(
        folders, list(labels["Label"]), batch_size=4, seed=3, limit=6)
    assert (n_train, n_validation) == (6, 6)
    first = np.concatenate([y for _, y in validation]).argmax(axis=1)
    again = np.concatenate([y for _, y in validation]).argmax(axis=1)
    np.testing.assert_array_equal(first, again)
    assert len(first) == 6 and len(set(first)) > 1
    epoch1 = sorted(np.concatenate([y for _, y in train]).argmax(axis=1))
    epoch2 = sorted(np.concatenate([y for _, y in train]).argmax(axis=1))
    assert epoch1 == epoch2 and len(epoch1) == 6  # the same images every epoch, in a new order


# --------------------------------------------------------------------------- bad folders
def _break(tree, how):
    if how == "no labels file":
        (tree / "monkey_labels.txt").unlink()
    elif how == "labels without Label column":
        (tree / "monkey_labels.txt").write_text("Class, Name\nn0, a\n")
    elif how == "no validation split":
        for path in sorted((tree / "validation").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    elif how == "missing class folder":
        for image in (tree / "training/training/n3").iterdir():
            image.unlink()
        (tree / "training/training/n3").rmdir()
    elif how == "empty class folder":
        for image in (tree / "validation/validation/n7").iterdir():
            image.unlink()
    elif how == "extra folder":
        (tree / "training/training/n10").mkdir()


@pytest.mark.parametrize("how, message", [
    ("no labels file", "monkey_labels.txt: missing"),
    ("labels without Label column", "needs a 'Label' column"),
    ("no validation split", "validation/validation: missing"),
    ("missing class folder", "training/training/n3: missing (class n3 is in monkey_labels.txt)"),
    ("empty class folder", "validation/validation/n7: no images"),
    ("extra folder", "folders ['n10'] are not labels"),
])
def test_bad_folders_give_the_expected_layout(tmp_path, how, message):
    tree = write_monkeys_tree(tmp_path, n_train=1, n_valid=1)
    _break(tree, how)
    with pytest.raises(DatasetError) as info:
        monkeys.check_layout(tree)
    assert message in str(info.value)
    assert "Expected the Kaggle" in str(info.value) and "training/training/n0" in str(info.value)


def test_missing_folder_through_main(tmp_path, capsys):
    assert monkeys.main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "validation/validation" in err and "kaggle" in err.lower()
    assert not (tmp_path / "out").exists()


def test_data_dir_is_required(capsys):
    with pytest.raises(SystemExit):
        monkeys.parse_args([])
    assert "--data-dir" in capsys.readouterr().err


def test_mirrored_strategy_on_two_logical_cpus(tree, tmp_path):
    result = run_module("reference.monkeys", "--strategy", "mirrored", "--logical-cpus", "2",
                        "--data-dir", tree, "--limit", "4", "--epochs", "1", "--batch-size", "4",
                        "--out", tmp_path, "--verbose", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 replica(s)" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["replicas"] == 2 and metrics["n_train"] == 4


def test_atomic_history_csv(tmp_path):
    history = outputs.HistoryCSV(tmp_path / "history.csv")
    history.on_epoch_begin(0)
    history.on_epoch_end(0, {"loss": 1.5, "accuracy": 0.5})
    assert (tmp_path / "history.csv").read_text().splitlines()[1].startswith("1,1.5,0.5,")
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]
