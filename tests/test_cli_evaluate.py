"""``scratchconv evaluate MODEL``: Fashion-MNIST and the monkeys' validation folder, the line that
says what is fed, scratchconv checkpoints and Keras files (compiled or not), and every user error
as one ``error:`` message without a traceback. Small generated data and tiny networks."""

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from reference_helpers import REPO, fashion_like, write_fashion_dir, write_learnable_monkeys_tree  # noqa: E402
from scratchconv import nn  # noqa: E402
from scratchconv.cli import main  # noqa: E402
from scratchconv.data import split_and_standardize  # noqa: E402
from scratchconv.layers import Conv2D, Dense, Flatten  # noqa: E402

CLASSES = 4


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    """5,010 training images (5,000 go to validation) and 40 test images (seed 0)."""
    return write_fashion_dir(tmp_path_factory.mktemp("fashion"), n_train=5010, n_test=40, seed=0)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_learnable_monkeys_tree(tmp_path_factory.mktemp("monkeys"), n_classes=CLASSES, n_train=8, n_valid=4)


def tiny(input_shape, classes, loss=None):
    """A small scratchconv network: Conv2D(2, 3) -> Flatten -> Dense(softmax); compiled when loss is given."""
    model = nn.Sequential([Conv2D(2, 3, activation="relu", input_shape=input_shape), Flatten(),
                           Dense(classes, activation="softmax")])
    if loss:
        model.compile("sgd", loss, ["accuracy"])
    return model


@pytest.fixture(scope="module")
def fashion_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("models") / "fashion.npz"
    tiny((28, 28, 1), 10, "sparse_categorical_crossentropy").save(path)
    return path


def evaluate(model, *extra):
    return main(["evaluate", str(model), *map(str, extra)])


def error_of(*argv):
    """The message of the ``error:`` SystemExit that ``scratchconv evaluate argv`` ends with."""
    with pytest.raises(SystemExit) as info:
        evaluate(*argv)
    text = str(info.value.code)
    assert text.startswith("error: "), text
    return text


# --------------------------------------------------------------------------- what it feeds
def test_fashion_mnist_says_what_it_feeds(fashion_dir, fashion_checkpoint, capsys):
    assert evaluate(fashion_checkpoint, "--data-dir", fashion_dir, "--limit", "30") == 0
    out = capsys.readouterr().out.splitlines()
    rng = np.random.default_rng(0)  # write_fashion_dir's data, to know the statistics the line must give
    (x_train, y_train), (x_test, y_test) = fashion_like(5010, rng), fashion_like(40, rng)
    data = split_and_standardize(x_train, y_train, x_test, y_test)
    assert out[0] == (f"data: Fashion-MNIST test set from {fashion_dir}, 30 images 28x28x1 (the first 30 of 40), "
                      f"standardised as the training does: (pixel - {data.mean:.2f}) / {data.std:.2f}, the mean "
                      f"and std of the 10 training images after the 5,000-image validation split; integer labels 0-9")
    model = nn.load_checkpoint(fashion_checkpoint)
    loss, accuracy = model.evaluate(data.x_test[:30], data.y_test[:30], verbose=0)
    assert out[1] == (f"{fashion_checkpoint}: test loss {loss:.4f}, test accuracy {accuracy:.4f} "
                      f"(30 images, scratchconv)")


def test_an_uncompiled_keras_model_is_compiled_with_the_data_loss(fashion_dir, tmp_path, capsys):
    keras_model = tiny((28, 28, 1), 10).to_keras()  # not compiled
    keras_model.save(tmp_path / "model.keras")
    assert evaluate(tmp_path / "model.keras", "--data-dir", fashion_dir, "--compare-keras") == 0
    out = capsys.readouterr().out
    assert ("the model has no compiled loss that scratchconv has: evaluating with sparse_categorical_crossentropy, "
            "the cross-entropy for integer labels") in out
    assert "test accuracy" in out and "differ on 0 images" in out


def test_monkeys_validation_at_the_model_input_size(tree, tmp_path, capsys):
    """Uncompiled (categorical for one-hot labels); 24x24 from the model; --limit's seeded subset."""
    path = tmp_path / "monkeys.npz"
    tiny((24, 24, 3), CLASSES).save(path)
    assert evaluate(path, "--data", "monkeys", "--data-dir", tree, "--limit", "10", "--batch-size", "4") == 0
    out = capsys.readouterr().out
    assert (f"data: 10 Monkey Species validation set {tree / 'validation/validation'}, 10 images in 4 classes, a "
            f"random subset drawn from seed 7 (as train monkeys --limit 10 --seed 7), resized to 24x24x3 ('nearest'), "
            f"rescaled by 1/255 to 0..1, not augmented, as train monkeys validates; one-hot labels") in out
    assert "evaluating with categorical_crossentropy, the cross-entropy for one-hot labels" in out
    assert "validation accuracy" in out and "(10 images, scratchconv)" in out


def test_train_monkeys_then_evaluate_its_checkpoint(tree, tmp_path, capsys):
    """End to end: evaluate gives the run's own number for its best checkpoint (same images, same preprocessing)."""
    import json

    run = tmp_path / "run"
    assert main(["train", "monkeys", "--data-dir", str(tree), "--out", str(run), "--image-size", "32", "--epochs", "1",
                 "--limit", "12", "--batch-size", "6", "--model", "separable", "--verbose", "0"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    capsys.readouterr()
    assert evaluate(run / "checkpoint_best.npz", "--data", "monkeys", "--data-dir", tree, "--limit", "12",
                    "--batch-size", "6") == 0
    out = capsys.readouterr().out
    assert "resized to 32x32x3" in out and "evaluating with" not in out  # the checkpoint's own loss fits
    best = metrics["best_checkpoint"]
    assert f"validation loss {best['loss']:.4f}, validation accuracy {best['accuracy']:.4f} (12 images" in out


# --------------------------------------------------------------------------- user errors
def test_a_missing_file(tmp_path):
    assert error_of(tmp_path / "missing.npz") == f"error: {tmp_path / 'missing.npz'}: no such file"


def test_a_file_of_the_wrong_type(tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\n")
    assert "MODEL must be a scratchconv checkpoint (.npz) or a saved Keras model (.keras, .h5)" in error_of(
        tmp_path / "history.csv")


def test_files_that_are_not_models(tmp_path):
    np.savez(tmp_path / "arrays.npz", a=np.zeros(3))
    assert "arrays.npz is not a scratchconv checkpoint" in error_of(tmp_path / "arrays.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    assert "text.npz is not a scratchconv checkpoint" in error_of(tmp_path / "text.npz")
    (tmp_path / "text.keras").write_text("not a Keras file")
    assert "text.keras is not a saved Keras model (a .keras file is a zip archive)" in error_of(tmp_path / "text.keras")
    (tmp_path / "text.h5").write_text("not an HDF5 file")
    assert "text.h5: Keras cannot load it (OSError: " in error_of(tmp_path / "text.h5")


def test_a_keras_layer_scratchconv_does_not_have(tmp_path):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(2, 3), keras.layers.LayerNormalization(),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.save(tmp_path / "norm.keras")
    text = error_of(tmp_path / "norm.keras")
    assert "LayerNormalization" in text and "Traceback" not in text


def test_a_shape_that_does_not_fit(fashion_dir, fashion_checkpoint, tree, tmp_path):
    assert error_of(fashion_checkpoint, "--data", "monkeys", "--data-dir", tree) == (
        "error: the model takes inputs of shape (None, 28, 28, 1), the data are (None, 28, 28, 3)")
    tiny((32, 32, 3), CLASSES).save(tmp_path / "monkeys.npz")
    assert error_of(tmp_path / "monkeys.npz", "--data-dir", fashion_dir) == (
        "error: the model takes inputs of shape (None, 32, 32, 3), the data are (None, 28, 28, 1)")
    assert error_of(tmp_path / "monkeys.npz", "--data", "monkeys", "--data-dir", tree, "--image-size", "40") == (
        "error: the model takes inputs of shape (None, 32, 32, 3), the data are (None, 40, 40, 3) (--image-size)")
    tiny((32, 32, 3), 10).save(tmp_path / "ten.npz")
    assert "the data have 4 classes" in error_of(tmp_path / "ten.npz", "--data", "monkeys", "--data-dir", tree)


def test_arguments_and_data_that_do_not_fit(fashion_checkpoint, tmp_path):
    assert "--data monkeys needs --data-dir" in error_of(fashion_checkpoint, "--data", "monkeys")
    assert "--image-size is for --data monkeys" in error_of(fashion_checkpoint, "--image-size", "32")
    assert "--compare-keras needs a saved Keras model" in error_of(fashion_checkpoint, "--compare-keras")
    assert "--limit must be >= 1" in error_of(fashion_checkpoint, "--limit", "0")
    assert "No usable copy of Fashion-MNIST" in error_of(fashion_checkpoint, "--data-dir", tmp_path)
    assert "monkey_labels.txt: missing; expected Kaggle's 10 Monkey Species layout" in error_of(
        fashion_checkpoint, "--data", "monkeys", "--data-dir", tmp_path)


def test_from_the_command_line_an_error_line_and_no_traceback(fashion_checkpoint, tmp_path):
    (tmp_path / "history.csv").write_text("epoch,loss\n0,1.0\n")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    for argv in ([str(tmp_path / "history.csv")], [str(fashion_checkpoint), "--data", "monkeys",
                                                   "--data-dir", str(tmp_path)]):
        done = subprocess.run([sys.executable, "-m", "scratchconv", "evaluate", *argv], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 1 and done.stderr.startswith("error: ") and "Traceback" not in done.stderr
