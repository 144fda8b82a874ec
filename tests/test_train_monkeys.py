"""``scratchconv train monkeys`` end to end on a generated Kaggle-layout tree whose classes can be
learnt (a shape in a colour of its own, JPEG and PNG of different sizes, a CRLF labels file with
padded cells), at 32x32: the run folder, resume, that the network learns, the real-world folder
cases and ``python -m scratchconv.nn.compare --data monkeys``."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from reference_helpers import REPO, write_learnable_monkeys_tree
from scratchconv import nn
from scratchconv.cli import main

CLASSES = 4


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_learnable_monkeys_tree(tmp_path_factory.mktemp("monkeys"), n_classes=CLASSES, n_train=16, n_valid=8)


def train(tree, out, *extra):
    return main(["train", "monkeys", "--data-dir", str(tree), "--out", str(out), "--image-size", "32",
                 "--batch-size", "16", "--verbose", "2", *extra])


@pytest.fixture
def copy(tree, tmp_path):
    """A copy of the tree to break."""
    return shutil.copytree(tree, tmp_path / "tree")


def test_learns_the_tree_and_writes_the_run_folder(tree, tmp_path, capsys):
    """The article's network, optimizer and augmentation at 32x32: well above chance (0.25) in 6 epochs."""
    assert train(tree, tmp_path / "run", "--epochs", "6") == 0
    out = capsys.readouterr().out
    assert "4 classes: n0 (disc monkey), n1 (square monkey), n2 (stripes monkey), n3 (ring monkey)" in out
    assert "Found 64 images belonging to 4 classes." in out and "Found 32 images belonging to 4 classes." in out
    assert "64 training images (4 batches of up to 16, augmented), 32 validation images" in out
    assert "parameters at 32x32, 4 classes: standard 549,796, separable 298,724" in out
    assert "Epoch 6/6" in out and "samples/s" in out and "validation accuracy" in out
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint_best.npz", "checkpoint_last.npz", "history.csv", "learning_curves.png", "metrics.json", "run.json"]
    assert (run / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (run / "history.csv").read_text().splitlines()
    assert rows[0].split(",") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    report = json.loads((run / "run.json").read_text())
    assert report["settings"] == {"model": "standard", "batch_size": 16, "image_size": [32, 32], "limit": None,
                                  "seed": 7, "init_from": None}
    assert report["epochs_run"] == len(rows) - 1
    best = report["validation"]["best_checkpoint"]
    assert best["accuracy"] >= 0.6, report["history"]  # chance is 0.25
    assert best["loss"] == pytest.approx(min(report["history"]["val_loss"]), rel=1e-6)
    model = nn.load_checkpoint(run / "checkpoint_best.npz")
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, CLASSES)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["command"] == (f"scratchconv train monkeys --data-dir {tree} --model standard --batch-size 16 "
                                  f"--image-size 32x32 --seed 7 --epochs 6 --out {run}")
    assert metrics["split"] == "validation" and metrics["params"] == 549_796 and metrics["training_samples"] == 64
    assert {k: metrics["best_checkpoint"][k] for k in ("loss", "accuracy")} == best
    assert metrics["final_model"] == report["validation"]["last_model"] and metrics["samples_per_s"] > 0


def test_resume_continues_exactly(tree, tmp_path):
    common = ("--limit", "24", "--model", "separable")
    assert train(tree, tmp_path / "straight", "--epochs", "2", *common) == 0
    assert train(tree, tmp_path / "resumed", "--epochs", "1", *common) == 0
    assert train(tree, tmp_path / "resumed", "--epochs", "2", "--resume") == 0  # settings from run.json
    reports = [json.loads((tmp_path / name / "run.json").read_text()) for name in ("straight", "resumed")]
    assert reports[0]["history"] == reports[1]["history"] and reports[0]["validation"] == reports[1]["validation"]
    assert reports[1]["settings"]["limit"] == 24 and reports[1]["settings"]["model"] == "separable"
    a = nn.load_checkpoint(tmp_path / "straight" / "checkpoint_last.npz")
    b = nn.load_checkpoint(tmp_path / "resumed" / "checkpoint_last.npz")
    for w, w_ref in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(w, w_ref)


def test_init_from_a_keras_model(tree, tmp_path, capsys):
    start = nn.monkeys_model("separable", seed=1, num_classes=CLASSES, image_size=(32, 32)).to_keras()
    start.save(tmp_path / "start.keras")
    assert train(tree, tmp_path / "run", "--epochs", "1", "--limit", "8", "--init-from",
                 str(tmp_path / "start.keras")) == 0
    assert "initial weights from" in capsys.readouterr().out
    wrong = nn.monkeys_model("standard", seed=1, num_classes=10, image_size=(32, 32)).to_keras()
    wrong.save(tmp_path / "wrong.keras")
    with pytest.raises(SystemExit, match="needs \\(None, 32, 32, 3\\) images and 4 classes"):
        train(tree, tmp_path / "run2", "--init-from", str(tmp_path / "wrong.keras"))
    assert not (tmp_path / "run2").exists()


# --------------------------------------------------------------------------- real-world folders
def test_a_file_without_an_image_extension_is_skipped_and_counted(copy, tmp_path, capsys):
    (copy / "training/training/n1/notes.txt").write_text("not an image")
    (copy / "training/training/n2/Thumbs.db").write_bytes(b"\0" * 64)
    (copy / "training/training/.ipynb_checkpoints").mkdir()  # hidden folders are not classes
    assert train(copy, tmp_path / "run", "--epochs", "1", "--limit", "8") == 0
    out = capsys.readouterr().out
    assert "Skipped 2 files without an image extension" in out and "n1/notes.txt" in out


@pytest.mark.parametrize("how, message", [
    ("unreadable image", "1 file(s) with an image extension are not readable images"),
    ("empty class folder", "validation/validation/n2: no images"),
    ("missing class folder", "training/training/n3: missing (class n3 is in monkey_labels.txt)"),
    ("no labels file", "monkey_labels.txt: missing"),
    ("labels without Label column", "needs a header row with a 'Label' column"),
    ("no validation split", "validation/validation: missing (validation images)"),
    ("extra folder", "folders ['n9'] are not labels in monkey_labels.txt"),
    ("no such folder", "no such folder"),
])
def test_a_folder_that_does_not_fit_is_an_error_line(copy, tmp_path, how, message):
    if how == "unreadable image":
        (copy / "training/training/n1/broken.jpg").write_text("this is not a JPEG")
    elif how == "empty class folder":
        shutil.rmtree(copy / "validation/validation/n2")
        (copy / "validation/validation/n2").mkdir()
    elif how == "missing class folder":
        shutil.rmtree(copy / "training/training/n3")
    elif how == "no labels file":
        (copy / "monkey_labels.txt").unlink()
    elif how == "labels without Label column":
        (copy / "monkey_labels.txt").write_text("Class, Name\r\nn0, a\r\n")
    elif how == "no validation split":
        shutil.rmtree(copy / "validation")
    elif how == "extra folder":
        (copy / "training/training/n9").mkdir()
    else:
        shutil.rmtree(copy)
    with pytest.raises(SystemExit) as info:
        train(copy, tmp_path / "run", "--epochs", "1")
    text = str(info.value)
    assert text.startswith("error: ") and message in text
    if how == "unreadable image":
        assert "training/training/n1/broken.jpg" in text  # named
    else:
        assert "Kaggle's 10 Monkey Species layout" in text
    assert not (tmp_path / "run").exists()


def test_errors_from_the_command_line_have_no_traceback(copy, tmp_path):
    (copy / "validation/validation/n0/bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "scratchconv", "train", "monkeys", "--data-dir", str(copy),
                           "--out", str(tmp_path / "run"), "--image-size", "32"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: 1 file(s) with an image extension are not readable images")
    assert "validation/validation/n0/bad.png" in done.stderr
    for argv, message in ((["--epochs", "0"], "--epochs must be >= 1"), (["--image-size", "3"], "--image-size")):
        done = subprocess.run([sys.executable, "-m", "scratchconv", "train", "monkeys", "--data-dir", str(copy),
                               *argv], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr


def test_resume_without_a_run_is_an_error(tree, tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint_last.npz"):
        train(tree, tmp_path / "nothing", "--resume")


# --------------------------------------------------------------------------- side by side with Keras
def test_compare_with_keras_from_the_same_weights(tree, tmp_path):
    """Keras (the article's ImageDataGenerator, reference.monkeys) and scratchconv, 128x128, one epoch."""
    from scratchconv.nn import compare

    out = tmp_path / "compare"
    compare.main(["--data", "monkeys", "--data-dir", str(tree), "--epochs", "1", "--limit", "6",
                  "--batch-size", "6", "--out", str(out)])
    summary = json.loads((out / "comparison.json").read_text())
    assert (out / "learning_curves_side_by_side.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "initial.keras").exists() and (out / "keras" / "metrics.json").exists()
    assert json.loads((out / "scratchconv" / "run.json").read_text())["settings"]["init_from"].endswith("initial.keras")
    predictions = summary["predictions_on_keras_best_checkpoint"]
    assert predictions["images"] == 6 and predictions["different_predictions"] == 0
    assert predictions["max_abs_probability_difference"] < 1e-5
    assert set(summary["validation_accuracy"]) == {"keras", "scratchconv", "difference"}
    assert len(summary["histories"]["keras"]["loss"]) == len(summary["histories"]["scratchconv"]["loss"]) == 1
