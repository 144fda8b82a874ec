"""``scratchconv train fashion-mnist`` and ``scratchconv evaluate`` end to end on generated IDX files
(test_cli_evaluate.py has evaluate's own tests)."""

import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scratchconv import nn  # noqa: E402
from scratchconv.cli import main  # noqa: E402
from scratchconv.data import write_fashion_mnist  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A Fashion-MNIST look-alike: 5,100 training images (5,000 go to validation) and 100 test images.

    The class is written into the image (a bright block whose row is the label), so a few
    epochs on a few dozen images learn something."""
    rng = np.random.default_rng(0)

    def images(n):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 2 + 2 * label : 4 + 2 * label, 4:24] = 250
        return x, y

    return write_fashion_mnist(tmp_path_factory.mktemp("fashion"), images(5100), images(100))


def train(data_dir, out, *extra):
    return main(["train", "fashion-mnist", "--data-dir", str(data_dir), "--out", str(out), "--limit", "32",
                 "--batch-size", "16", "--verbose", "2", *extra])


def test_train_writes_the_run_folder(data_dir, tmp_path, capsys):
    assert train(data_dir, tmp_path / "run", "--epochs", "2", "--optimizer", "adam") == 0
    out = capsys.readouterr().out
    assert "Epoch 2/2" in out and "samples/s" in out and "test accuracy" in out
    run = tmp_path / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint_best.npz", "checkpoint_last.npz", "history.csv", "learning_curves.png", "metrics.json", "run.json"]
    assert (run / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (run / "history.csv").read_text().splitlines()
    assert rows[0].split(",") == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"] and len(rows) == 3
    report = json.loads((run / "run.json").read_text())
    assert report["settings"]["optimizer"] == "adam" and report["epochs_run"] == 2
    assert 0 <= report["test"]["last_model"]["accuracy"] <= 1
    assert f"{report['test']['best_checkpoint']['accuracy']:.4f}" in out
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["command"] == (f"scratchconv train fashion-mnist --data-dir {data_dir} --model separable "
                                  f"--batch-size 16 --optimizer adam --limit 32 --seed 0 --epochs 2 --out {run}")
    assert metrics["split"] == "test" and metrics["epochs_run"] == 2 and metrics["params"] == 184_234
    assert metrics["final_model"] == report["test"]["last_model"]
    best = metrics["best_checkpoint"]
    assert best["file"] == "checkpoint_best.npz" and {k: best[k] for k in ("loss", "accuracy")} == report["test"][
        "best_checkpoint"]
    assert best["epoch"] == 1 + int(np.argmin(report["history"]["val_loss"]))
    assert metrics["training_samples"] == 32 and len(metrics["samples_per_s_per_epoch"]) == 2
    assert metrics["samples_per_s"] == metrics["samples_per_s_per_epoch"][1] > 0  # the first epoch left out
    # evaluate the best checkpoint: the same number run.json reports for it
    assert main(["evaluate", str(run / "checkpoint_best.npz"), "--data-dir", str(data_dir), "--limit", "32"]) == 0
    assert f"test accuracy {report['test']['best_checkpoint']['accuracy']:.4f}" in capsys.readouterr().out


def test_resume_continues_exactly(data_dir, tmp_path):
    assert train(data_dir, tmp_path / "straight", "--epochs", "2") == 0
    assert train(data_dir, tmp_path / "resumed", "--epochs", "1") == 0
    assert train(data_dir, tmp_path / "resumed", "--epochs", "2", "--resume") == 0
    reports = [json.loads((tmp_path / name / "run.json").read_text()) for name in ("straight", "resumed")]
    assert reports[0]["history"] == reports[1]["history"]
    assert reports[0]["test"] == reports[1]["test"]
    metrics = [json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("straight", "resumed")]
    assert metrics[0]["command"].replace("straight", "resumed") == metrics[1]["command"]  # the run, not the resume
    assert len(metrics[1]["samples_per_s_per_epoch"]) == 2  # kept in the checkpoint across the resume
    a = nn.load_checkpoint(tmp_path / "straight" / "checkpoint_last.npz")
    b = nn.load_checkpoint(tmp_path / "resumed" / "checkpoint_last.npz")
    for w, w_ref in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(w, w_ref)


def test_evaluate_a_keras_model_and_compare(data_dir, tmp_path, capsys):
    keras_model = nn.fashion_mnist_model("standard", seed=3).to_keras()
    keras_model.save(tmp_path / "model.keras")
    assert main(["evaluate", str(tmp_path / "model.keras"), "--data-dir", str(data_dir), "--compare-keras"]) == 0
    out = capsys.readouterr().out
    difference = float(out.split("max |p_scratchconv - p_keras| = ")[1].split(";")[0])
    assert difference < 1e-5 and "differ on 0 images" in out


def test_train_from_keras_initial_weights(data_dir, tmp_path):
    keras.utils.set_random_seed(1)
    keras_model = nn.fashion_mnist_model("separable", seed=0).to_keras()
    keras_model.set_weights([w * 0.5 for w in keras_model.get_weights()])
    keras_model.save(tmp_path / "start.keras")
    assert train(data_dir, tmp_path / "run", "--epochs", "1", "--init-from", str(tmp_path / "start.keras")) == 0
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"]["init_from"].endswith("start.keras")


def test_clear_errors(data_dir, tmp_path):
    with pytest.raises(SystemExit, match="no checkpoint_last.npz"):
        train(data_dir, tmp_path / "nothing", "--resume")
    with pytest.raises(SystemExit, match="No usable copy of Fashion-MNIST"):
        main(["train", "fashion-mnist", "--data-dir", str(tmp_path), "--limit", "8"])
    with pytest.raises(SystemExit, match="--epochs must be >= 1"):
        train(data_dir, tmp_path / "x", "--epochs", "0")
    with pytest.raises(SystemExit, match="missing.npz: no such file"):
        main(["evaluate", str(tmp_path / "missing.npz")])


def test_train_says_when_openblas_runs_slower_kernels_than_the_cpu_has(monkeypatch, capsys):
    from scratchconv.bench import env
    from scratchconv.cli import run_folder

    monkeypatch.setattr(env, "blas_core", lambda: "Haswell")
    monkeypatch.setattr(env, "cpu_flags", lambda: {"avx2", "avx512f"})
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    assert "OPENBLAS_CORETYPE=Haswell" in run_folder.warn_slow_blas()
    assert "note: OPENBLAS_CORETYPE=Haswell holds OpenBLAS to its Haswell kernels" in capsys.readouterr().err
    monkeypatch.delenv("OPENBLAS_CORETYPE")  # OpenBLAS's own choice: nothing to say
    assert run_folder.warn_slow_blas() is None and capsys.readouterr().err == ""
