"""reference.fashion_mnist end to end on generated IDX files, its outputs, errors and strategies.

The trainings run in-process through ``main(argv)`` on a few hundred generated images (seconds);
the mirrored-strategy run needs a fresh interpreter (logical CPU devices must be configured before
TensorFlow starts), so it runs in a subprocess.
"""

import contextlib
import csv
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

from reference import fashion_mnist, outputs
from reference.runtime import keras
from reference_helpers import run_module, write_fashion_dir
from scratchconv.data import load_fashion_mnist, split_and_standardize

LIMIT = 200
EPOCHS = 3


@pytest.fixture(scope="module")
def fashion_dir(tmp_path_factory):
    # 5,000 validation images are split off first, as in the article; LIMIT caps what is used.
    return write_fashion_dir(tmp_path_factory.mktemp("fashion"), n_train=5000 + LIMIT, n_test=LIMIT)


@pytest.fixture(scope="module")
def run(fashion_dir, tmp_path_factory):
    """One short training: (return code, printed text, run folder)."""
    out = tmp_path_factory.mktemp("run") / "fashion"
    text = io.StringIO()  # capsys is function-scoped; this fixture is module-scoped
    with contextlib.redirect_stdout(text):
        rc = fashion_mnist.main(["--data-dir", str(fashion_dir), "--limit", str(LIMIT), "--epochs", str(EPOCHS),
                                 "--out", str(out), "--verbose", "2"])
    return rc, text.getvalue(), out


def _history(out):
    with open(out / outputs.HISTORY) as f:
        return list(csv.DictReader(f))


def test_parameter_counts_match_the_article():
    assert fashion_mnist.build_model("separable").count_params() == 184_234
    assert fashion_mnist.build_model("standard").count_params() == 435_306


def test_build_model_rejects_unknown_kind():
    with pytest.raises(ValueError, match="'separable' or 'standard'"):
        fashion_mnist.build_model("depthwise")


def test_network_is_the_articles():
    model = fashion_mnist.build_model("separable")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["Conv2D", "SeparableConv2D", "MaxPooling2D", "SeparableConv2D", "SeparableConv2D",
                     "MaxPooling2D", "SeparableConv2D", "SeparableConv2D", "MaxPooling2D", "Flatten",
                     "Dense", "Dense"]
    convs = [layer for layer in model.layers if "Conv" in type(layer).__name__]
    assert [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
    assert all(c.kernel_size == (3, 3) and c.padding == "same" and c.activation.__name__ == "selu" for c in convs)
    assert [d.activation.__name__ for d in model.layers[-2:]] == ["selu", "softmax"]
    fashion_mnist.compile_model(model)
    assert type(model.optimizer).__name__ == "SGD"
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_run_succeeds_and_prints_versions_device_and_results(run):
    rc, text, _ = run
    assert rc == 0
    first = text.splitlines()[0]
    for name in ("python", "tensorflow", "keras", "numpy"):
        assert name in first
    assert "Device: CPU" in text and "Strategy: default" in text and "Precision: float32" in text
    assert "Total params: 184,234" in text
    assert "test accuracy" in text and "best checkpoint" in text


def test_run_folder_has_every_output(run):
    _, _, out = run
    assert (out / "best_model.keras").stat().st_size > 100_000
    for split in ("train", "validation"):
        events = list((out / "logs" / split).glob("events.out.tfevents.*"))
        assert events and events[0].stat().st_size > 0, f"no TensorBoard events in logs/{split}"
    png = Image.open(out / "learning_curves.png")
    assert png.format == "PNG" and png.size == (640, 400)
    assert not [p.name for p in out.glob(".*")], "temporary files left in the run folder"

    rows = _history(out)
    assert len(rows) == EPOCHS and [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"epoch", "loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and metrics["params"] == 184_234
    assert metrics["epochs_run"] == EPOCHS and metrics["stopped_early"] is False
    assert metrics["replicas"] == 1 and metrics["precision"] == "float32" and metrics["limit"] == LIMIT
    assert len(metrics["epoch_seconds"]) == EPOCHS
    for key in ("loss", "accuracy"):
        assert math.isfinite(metrics["final_model"][key]) and math.isfinite(metrics["best_checkpoint"][key])
    # the checkpoint is the epoch with the lowest val_loss (first one on ties, as ModelCheckpoint)
    val_losses = [float(r["val_loss"]) for r in rows]
    assert metrics["best_checkpoint"]["epoch"] == 1 + int(np.argmin(val_losses))
    assert metrics["best_checkpoint"]["val_loss"] == pytest.approx(min(val_losses), rel=1e-6)


def test_best_checkpoint_reloads_and_evaluates_to_the_saved_metrics(run, fashion_dir):
    _, _, out = run
    metrics = json.loads((out / "metrics.json").read_text())
    (x_all, y_all), (x_test, y_test) = load_fashion_mnist(fashion_dir)
    data = split_and_standardize(x_all, y_all, x_test, y_test)
    model = keras.models.load_model(out / "best_model.keras")
    assert model.count_params() == 184_234
    loss, accuracy = model.evaluate(data.x_test[:LIMIT], data.y_test[:LIMIT], batch_size=32, verbose=0)
    assert loss == pytest.approx(metrics["best_checkpoint"]["loss"], rel=1e-5)
    assert accuracy == pytest.approx(metrics["best_checkpoint"]["accuracy"], abs=1e-7)
    # and it is the model of the best epoch: its validation loss is the one recorded then
    val_loss, _ = model.evaluate(data.x_valid[:LIMIT], data.y_valid[:LIMIT], batch_size=32, verbose=0)
    assert val_loss == pytest.approx(metrics["best_checkpoint"]["val_loss"], rel=1e-5)


def test_same_seed_gives_the_same_first_epoch(run, fashion_dir, tmp_path, capsys):
    _, _, out = run
    assert fashion_mnist.main(["--data-dir", str(fashion_dir), "--limit", str(LIMIT), "--epochs", "1",
                               "--out", str(tmp_path), "--verbose", "0"]) == 0
    first, again = _history(out)[0], _history(tmp_path)[0]
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert float(again[key]) == float(first[key]), key


def test_standard_model_with_mixed_precision(fashion_dir, tmp_path, capsys):
    rc = fashion_mnist.main(["--data-dir", str(fashion_dir), "--model", "standard", "--mixed-precision",
                             "--limit", "64", "--epochs", "1", "--out", str(tmp_path), "--verbose", "0"])
    assert rc == 0
    assert "Precision: mixed_bfloat16" in capsys.readouterr().out  # CPU: bfloat16, not float16
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["params"] == 435_306 and metrics["precision"] == "mixed_bfloat16"
    assert keras.mixed_precision.global_policy().name == "float32", "main() must restore the policy"
    model = keras.models.load_model(tmp_path / "best_model.keras")
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"  # softmax kept in float32
    assert model.layers[0].dtype_policy.compute_dtype == "bfloat16"


def test_missing_data_dir_gives_the_promised_error(tmp_path, capsys):
    assert fashion_mnist.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No usable copy of Fashion-MNIST" in err and "train-images-idx3-ubyte.gz" in err
    assert "apt-get install dataset-fashion-mnist" in err
    assert not (tmp_path / "out").exists()


def test_corrupt_data_dir_gives_the_promised_error(tmp_path, capsys):
    write_fashion_dir(tmp_path, n_train=20, n_test=10)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b broken")
    assert fashion_mnist.main(["--data-dir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "t10k-labels-idx1-ubyte.gz" in err and "gzip" in err


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--batch-size", "-1"], ["--limit", "0"],
                                  ["--model", "depthwise"], ["--strategy", "tpu"]])
def test_bad_arguments_are_rejected(argv, capsys):
    with pytest.raises(SystemExit) as info:
        fashion_mnist.parse_args(argv)
    assert info.value.code == 2


def test_mirrored_strategy_on_two_logical_cpus(fashion_dir, tmp_path):
    result = run_module("reference.fashion_mnist", "--strategy", "mirrored", "--logical-cpus", "2",
                        "--data-dir", fashion_dir, "--limit", "64", "--epochs", "1", "--batch-size", "16",
                        "--out", tmp_path, "--verbose", "0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Strategy: mirrored (MirroredStrategy), 2 replica(s)" in result.stdout
    assert "CPU:0" in result.stdout and "CPU:1" in result.stdout
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["replicas"] == 2 and metrics["strategy"] == "mirrored"
    assert (tmp_path / "best_model.keras").exists() and (tmp_path / "learning_curves.png").exists()
    # TensorFlow's start-up noise is kept out of the output
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "cuda drivers", "cpu_feature_guard"):
        assert noise not in result.stderr + result.stdout


# --------------------------------------------------------------------------- atomic outputs
def _tiny_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse", optimizer="sgd")
    return model


def test_checkpoint_survives_a_crash_while_saving(tmp_path, monkeypatch):
    model = _tiny_model()
    path = tmp_path / "best_model.keras"
    outputs.save_model_atomically(model, path)
    before = path.read_bytes()

    def crash(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # e.g. Ctrl-C or a full disk in the middle of saving

    monkeypatch.setattr(type(model), "save", crash)
    with pytest.raises(KeyboardInterrupt):
        outputs.save_model_atomically(model, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best_model.keras"]
    monkeypatch.undo()
    assert keras.models.load_model(path).count_params() == 3


def test_best_checkpoint_saves_only_strict_improvements(tmp_path, monkeypatch):
    saved = []
    monkeypatch.setattr(outputs, "save_model_atomically", lambda model, path: saved.append(path))
    callback = outputs.BestCheckpoint(tmp_path / "best.keras")
    for epoch, val_loss in enumerate([3.0, 2.0, 2.0, float("nan"), 2.5, 1.0]):
        callback.on_epoch_end(epoch, {"val_loss": val_loss})
    assert len(saved) == 3 and callback.best_epoch == 6 and callback.best == 1.0


def test_logical_cpus_after_tensorflow_started_is_a_clear_error(fashion_dir):
    keras.ops.ones(1)  # TensorFlow's runtime is running in this process now
    with pytest.raises(SystemExit, match="--logical-cpus needs a fresh Python process"):
        fashion_mnist.main(["--data-dir", str(fashion_dir), "--logical-cpus", "2", "--limit", "8"])
