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


def test_compare_with_scratchconv_on_keras_batches(tree, tmp_path, capsys):
    """--scratchconv-pipeline keras: scratchconv trains on Keras's own legacy ImageDataGenerator
    iterators, so with the same initial weights its first batch is Keras's first batch."""
    from scratchconv.nn import compare

    out = tmp_path / "compare"
    compare.main(["--data", "monkeys", "--data-dir", str(tree), "--epochs", "1", "--limit", "6",
                  "--batch-size", "6", "--out", str(out), "--scratchconv-pipeline", "keras"])
    printed = capsys.readouterr().out
    assert printed.count("scratchconv trains on Keras's legacy ImageDataGenerator iterators "
                         "(--scratchconv-pipeline keras)") == 1
    summary = json.loads((out / "comparison.json").read_text())
    assert summary["settings"]["scratchconv_pipeline"] == "keras"
    keras_metrics = json.loads((out / "keras" / "metrics.json").read_text())
    ours = json.loads((out / "scratchconv" / "metrics.json").read_text())
    assert keras_metrics["n_train"] == ours["training_samples"] == 6  # --limit 6 of the 64 training images
    assert "this line alone does not repeat it" in ours["command"]  # the batches were not scratchconv's
    assert json.loads((out / "scratchconv" / "run.json").read_text())["settings"]["init_from"].endswith(
        "initial.keras")
    # One batch of 6 from the same weights: each epoch-1 training loss is the initial model's loss on
    # that batch, so the two agree only when the augmented images are the same. The tolerance is
    # Keras's float32 (about 1e-6 apart on the same batch); near chance (log 4) another augmentation
    # of the same images can still move the loss by 1e-4, so it must stay this tight.
    histories = summary["histories"]
    assert histories["scratchconv"]["loss"][0] == pytest.approx(histories["keras"]["loss"][0], rel=2e-5)
    assert len(histories["keras"]["loss"]) == len(histories["scratchconv"]["loss"]) == 1


@pytest.mark.parametrize("argv", [
    ["--data", "monkeys", "--augmentation", "layers", "--scratchconv-pipeline", "keras"],
    ["--data", "fashion-mnist", "--scratchconv-pipeline", "keras"],
])
def test_scratchconv_pipeline_keras_needs_monkeys_and_legacy(tree, tmp_path, capsys, argv):
    from scratchconv.nn import compare

    with pytest.raises(SystemExit) as info:
        compare.main([*argv, "--data-dir", str(tree), "--out", str(tmp_path / "compare")])
    assert info.value.code == 2  # argparse's usage error, before anything runs
    assert "--scratchconv-pipeline keras" in capsys.readouterr().err
    assert not (tmp_path / "compare").exists()


def test_last_epochs_mean():
    from scratchconv.nn.compare import last_epochs_mean

    assert last_epochs_mean({"val_accuracy": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5]}) == pytest.approx(0.46)
    assert last_epochs_mean({"val_accuracy": [0.4, 0.6]}) == pytest.approx(0.5)  # stopped early: 2 epochs
    assert last_epochs_mean({"val_accuracy": [0.25]}) == pytest.approx(0.25)
    assert last_epochs_mean({"val_accuracy": [0.1, 0.2, 0.3]}, epochs=2) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="no val_accuracy"):
        last_epochs_mean({"val_accuracy": []})


def test_compare_seeds_means_over_the_seeds(tree, tmp_path, monkeypatch, capsys):
    """compare_seeds's seeds.json and table from made-up runs (compare_once replaced: no training)."""
    from scratchconv.nn import compare

    runs = {  # seed: (Keras final, scratchconv final, Keras val_accuracy per epoch, scratchconv's)
        0: (0.50, 0.60, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5], [0.4, 0.6]),  # last 5: 0.46; 0.5 (2 epochs)
        1: (0.70, 0.75, [0.7] * 6, [0.2, 0.4, 0.6, 0.8, 1.0]),              # last 5: 0.7; 0.6
    }
    seen = []

    def made_up(args, out):
        seen.append((args.seed, args.weights_seed))
        keras, ours, keras_history, our_history = runs[args.seed]
        return {"validation_accuracy": {"keras": keras, "scratchconv": ours, "difference": ours - keras},
                "seconds_per_epoch": {"keras": 1.0, "scratchconv": 2.0},
                "histories": {"keras": {"val_accuracy": keras_history}, "scratchconv": {"val_accuracy": our_history}}}

    monkeypatch.setattr(compare, "compare_once", made_up)
    out = tmp_path / "seeds"
    compare.main(["--data", "monkeys", "--data-dir", str(tree), "--seeds", "0", "1", "--weights-seed", "7",
                  "--out", str(out)])
    assert seen == [(0, 7), (1, 7)]
    result = json.loads((out / "seeds.json").read_text())
    first, second = result["runs"]
    # the fields seeds.json had before, unchanged
    assert result["split"] == "validation" and result["keras_spread"] == [0.5, 0.7]
    assert (first["seed"], first["keras"], first["scratchconv"], first["within_keras_spread"]) == (0, 0.5, 0.6, True)
    assert (second["seed"], second["keras"], second["scratchconv"], second["within_keras_spread"]) == (
        1, 0.7, 0.75, False)
    assert first["seconds_per_epoch"] == {"keras": 1.0, "scratchconv": 2.0}
    # the last-epochs statistic, per run and over the seeds
    assert result["last_epochs"] == 5
    assert first["last_epochs_mean"] == pytest.approx({"keras": 0.46, "scratchconv": 0.5})
    assert second["last_epochs_mean"] == pytest.approx({"keras": 0.7, "scratchconv": 0.6})
    assert first["epochs_run"] == {"keras": 7, "scratchconv": 2}
    means = result["means"]
    assert means["keras"] == pytest.approx(0.6) and means["scratchconv"] == pytest.approx(0.675)
    assert means["within_keras_spread"] == pytest.approx(0.5)
    assert means["last_epochs_mean"] == pytest.approx({"keras": 0.58, "scratchconv": 0.55})
    assert means["difference"] == pytest.approx(0.075)
    assert means["last_epochs_mean_difference"] == pytest.approx(-0.03)
    # chance, by hand: of the 6 ways to split {0.5, 0.7, 0.6, 0.75} in two pairs, 4 give a difference
    # of means of at least 0.075 (0.075 twice, 0.175 twice; 0.025 twice); the last-5 means
    # {0.46, 0.7, 0.5, 0.6}: 0.03 or more in all 6 (0.03, 0.03, 0.07, 0.07, 0.17, 0.17)
    assert result["chance"] == pytest.approx({"p_value": 4 / 6, "last_epochs_mean_p_value": 1.0,
                                              "within_keras_spread_if_same": 1 / 3})
    table = capsys.readouterr().out.split("final validation accuracy (last model)")[-1].splitlines()
    assert table[-4].split() == ["0", "0.5000", "0.6000", "True", "0.4600", "0.5000"]
    assert table[-2].split()[:6] == ["mean", "0.6000", "0.6750", "0.50", "0.5800", "0.5500"]
    assert table[-2].endswith("scratchconv - Keras: final +0.0750, last-5 -0.0300")
    assert table[-1].startswith("chance: permutation test") and "final p = 0.667, last-5 p = 1.000" in table[-1]
    assert table[-1].endswith("within the spread of 2 with probability 0.33")


def test_permutation_p_value():
    from scratchconv.nn.compare import permutation_p_value, within_spread_chance

    # by hand: of the C(6, 3) = 20 ways to split {0, 0, 0, 1, 1, 1} in two triples, only the
    # observed one and its mirror give a difference of means of 1
    assert permutation_p_value([0, 0, 0], [1, 1, 1]) == pytest.approx(0.1)
    assert permutation_p_value([1, 1, 1], [0, 0, 0]) == pytest.approx(0.1)  # two-sided
    assert permutation_p_value([0.5, 0.6, 0.7], [0.6, 0.5, 0.7]) == 1.0  # the same values
    # random relabellings (C(40, 20) of them exist): none reaches the observed split
    assert permutation_p_value(np.zeros(20), np.ones(20)) == pytest.approx(1 / (1 + 20_000))
    # random relabellings estimate the exact share (C(12, 6) = 924 splits)
    a, b = np.random.default_rng(3).normal(size=(2, 6)) + [[0.0], [0.8]]
    exact, estimate = permutation_p_value(a, b, permutations=1000), permutation_p_value(a, b, permutations=900)
    assert 0.01 < exact < 0.9 and abs(estimate - exact) < 0.06
    with pytest.raises(ValueError, match="non-empty 1-D"):
        permutation_p_value([], [1.0])
    assert within_spread_chance(3) == 0.5 and within_spread_chance(1) == 0.0 and within_spread_chance(9) == 0.8
    with pytest.raises(ValueError, match="k must be >= 1"):
        within_spread_chance(0)


def test_compare_summarize_pools_seeds_files(tree, tmp_path, monkeypatch, capsys):
    """--summarize: the table for the runs of several --seeds commands, without training."""
    from scratchconv.nn import compare

    finals = {0: (0.5, 0.6), 1: (0.7, 0.75), 2: (0.6, 0.55), 3: (0.8, 0.7)}

    def made_up(args, out):
        keras, ours = finals[args.seed]
        return {"validation_accuracy": {"keras": keras, "scratchconv": ours, "difference": ours - keras},
                "seconds_per_epoch": {"keras": 1.0, "scratchconv": 2.0},
                "histories": {"keras": {"val_accuracy": [keras]}, "scratchconv": {"val_accuracy": [ours]}}}

    monkeypatch.setattr(compare, "compare_once", made_up)
    common = ["--data", "monkeys", "--data-dir", str(tree), "--weights-seed", "7"]
    compare.main(common + ["--seeds", "0", "1", "--out", str(tmp_path / "a")])
    compare.main(common + ["--seeds", "2", "3", "--out", str(tmp_path / "b")])
    compare.main(common + ["--seeds", "3", "--out", str(tmp_path / "c")])
    compare.main(common + ["--seeds", "2", "--epochs", "3", "--out", str(tmp_path / "d")])
    capsys.readouterr()
    files = [str(tmp_path / name / "seeds.json") for name in ("a", "b", "c", "d")]
    result = compare.pool_seeds(files[:2])
    assert [row["seed"] for row in result["runs"]] == [0, 1, 2, 3] and result["settings"]["seeds"] == [0, 1, 2, 3]
    assert result["keras_spread"] == [0.5, 0.8]
    assert [row["within_keras_spread"] for row in result["runs"]] == [True, True, True, True]
    assert result["means"]["keras"] == pytest.approx(0.65) and result["means"]["scratchconv"] == pytest.approx(0.65)
    assert result["chance"]["p_value"] == 1.0 and result["chance"]["within_keras_spread_if_same"] == 0.6
    # the command: the table, exit status 0 (no TensorFlow needed to read the files)
    done = subprocess.run([sys.executable, "-m", "scratchconv.nn.compare", "--summarize", *files[:2]],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "within the spread of 4 with probability 0.60" in done.stdout and "'runs'" not in done.stderr
    for others, message in (([files[2]], "seed 3 appears twice"), ([files[3]], "setting 'epochs' is 3")):
        with pytest.raises(SystemExit):
            compare.main(["--summarize", files[1], *others])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(["--summarize", str(tmp_path / "missing.json")])
    assert "missing.json" in capsys.readouterr().err
