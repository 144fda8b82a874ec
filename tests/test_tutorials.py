"""Every tutorial runs headless, top to bottom, and writes the figures it promises.

Each tutorial runs as its own process, exactly as a learner runs it
(``python tutorials/NN_name.py`` from the repository root), with

- ``SCRATCHCONV_QUICK=1``: small sizes where a tutorial trains or times;
- ``SCRATCHCONV_FIGURES_DIR``: a temporary folder (without it a tutorial writes to
  runs/tutorial_figures/; only tutorials/make_figures.py writes the committed ones);
- ``SCRATCHCONV_REQUIRE_KERAS=1``: a tutorial's comparison with Keras fails instead of
  skipping when TensorFlow is missing (learners without TensorFlow get a note; the test
  suite must run the comparisons for real).

Every claim in a tutorial is an ``assert`` against Keras, finite differences or a
hand-computed case, so a tutorial that exits 0 has checked its own text. TensorFlow's start-up
noise must not show in a tutorial's output (it comes through scratchconv._tensorflow).
"""

import importlib.util
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "tutorials"

# tutorial file -> the figures it writes (PNG, in SCRATCHCONV_FIGURES_DIR)
EXPECTED_FIGURES = {
    "01_worked_example.py": ["01_feature_maps.png", "01_parameters.png"],
    "02_depthwise_step_by_step.py": ["02_sliding_window.png", "02_strides_dilation.png", "02_same_padding.png"],
    "03_pointwise_is_matmul.py": ["03_pointwise_matmul.png"],
    "04_backward_derived.py": ["04_full_correlation.png", "04_gradient_check.png"],
    "05_params_and_flops.py": ["05_params_flops.png", "05_time_per_layer.png"],
    "06_training_vs_keras.py": ["06_learning_curves.png", "06_batch_loss.png"],
    "07_monkeys_augmentation.py": ["07_each_layer.png", "07_augmented_grid.png", "07_composed_warp.png"],
    "08_winograd.py": ["08_one_tile.png", "08_tiles.png", "08_float32_error.png", "08_time_by_algorithm.png"],
    "09_mobilenet.py": ["09_mobilenet_blocks.png"],
}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TF_NOISE = ("oneDNN custom operations", "cudart_stub", "cuInit", "absl::InitializeLog", "cpu_feature_guard")


def png_size(path):
    """(width, height) from a PNG's IHDR chunk; fails if the file is not a PNG."""
    data = path.read_bytes()[:24]
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG file"
    return struct.unpack(">II", data[16:24])


def test_every_tutorial_is_listed():
    """A new tutorial must be added to EXPECTED_FIGURES, so that it is run here."""
    on_disk = sorted(p.name for p in TUTORIALS.glob("[0-9][0-9]_*.py"))
    assert on_disk == sorted(EXPECTED_FIGURES)


@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_tutorial_is_a_percent_format_notebook(name):
    """Jupyter-compatible percent format: code cells, markdown cells, the package imported, not copied."""
    text = (TUTORIALS / name).read_text(encoding="utf-8")
    lines = text.splitlines()
    assert sum(line.startswith("# %% [markdown]") for line in lines) >= 3
    assert sum(line.rstrip() == "# %%" for line in lines) >= 3
    assert "import scratchconv" in text or "from reference." in text  # the project's own code, never a copy
    # TensorFlow only through _common.keras_or_none (scratchconv._tensorflow: no start-up noise)
    assert "keras_or_none" in text and "import tensorflow" not in text and "import keras" not in text


def fashion_mnist_dir(tmp_path_factory):
    """None when Fashion-MNIST is on this machine; else a folder of small look-alike IDX files.

    Tutorial 6 trains on Fashion-MNIST. CI machines may have no copy and no network, so the
    test then hands the tutorial random images in the real file format (it checks that
    scratchconv trains like Keras, which does not need real pictures).
    """
    from scratchconv.data import DatasetError, load_fashion_mnist, write_fashion_mnist

    try:
        load_fashion_mnist(download=False)
        return None
    except DatasetError:
        pass
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (5_400, 28, 28), dtype=np.uint8), rng.integers(0, 10, 5_400, dtype=np.uint8))
    test = (rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), rng.integers(0, 10, 300, dtype=np.uint8))
    return str(write_fashion_mnist(tmp_path_factory.mktemp("fashion_mnist"), train, test))


@pytest.mark.parametrize("name", sorted(EXPECTED_FIGURES))
def test_tutorial_runs_headless_and_writes_its_figures(name, tmp_path, tmp_path_factory):
    env = dict(
        os.environ,
        SCRATCHCONV_QUICK="1",
        SCRATCHCONV_FIGURES_DIR=str(tmp_path),
        SCRATCHCONV_REQUIRE_KERAS="1",
        MPLBACKEND="Agg",
    )
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a learner runs it: the tutorial must be quiet by itself
    if name.startswith("06_") and "SCRATCHCONV_FASHION_MNIST_DIR" not in os.environ:
        data_dir = fashion_mnist_dir(tmp_path_factory)
        if data_dir is not None:
            env["SCRATCHCONV_FASHION_MNIST_DIR"] = data_dir
    proc = subprocess.run(
        [sys.executable, str(Path("tutorials") / name)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, (
        f"{name} failed (exit {proc.returncode})\n--- stdout (tail) ---\n{proc.stdout[-4000:]}"
        f"\n--- stderr (tail) ---\n{proc.stderr[-4000:]}"
    )
    assert "comparison with Keras in this cell is skipped" not in proc.stdout
    noise = [line for line in (proc.stdout + proc.stderr).splitlines() if any(n in line for n in TF_NOISE)]
    assert noise == [], f"TensorFlow's start-up noise in {name}'s output: {noise}"
    written = sorted(p.name for p in tmp_path.glob("*.png"))
    assert written == sorted(EXPECTED_FIGURES[name])
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "a temporary file was left behind"
    for figure in written:
        width, height = png_size(tmp_path / figure)
        assert width >= 200 and height >= 150, f"{figure} is only {width}x{height} pixels"


def test_committed_figures_match_the_tutorials():
    """tutorials/figures holds exactly the figures the tutorials write (none stale, none missing)."""
    committed = sorted(p.name for p in (TUTORIALS / "figures").glob("*.png"))
    expected = sorted(f for figures in EXPECTED_FIGURES.values() for f in figures)
    assert committed == expected
    for figure in committed:
        png_size(TUTORIALS / "figures" / figure)


def test_figures_go_to_a_run_folder_by_default():
    """Without SCRATCHCONV_FIGURES_DIR a tutorial writes to runs/tutorial_figures/ (git-ignored),
    never to the committed tutorials/figures/."""
    env = {k: v for k, v in os.environ.items() if k != "SCRATCHCONV_FIGURES_DIR"}
    code = "import _common; print(_common.FIGURES)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=TUTORIALS, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert Path(proc.stdout.strip()) == ROOT / "runs" / "tutorial_figures"
    assert "runs/" in (ROOT / ".gitignore").read_text().splitlines()


def test_make_figures_writes_the_committed_folder():
    spec = importlib.util.spec_from_file_location("make_figures", TUTORIALS / "make_figures.py")
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    assert make_figures.FIGURES == TUTORIALS / "figures"
    assert [p.name for p in make_figures.select([])] == sorted(EXPECTED_FIGURES)
    assert [p.name for p in make_figures.select(["4", "01_worked_example.py"])] == [
        "04_backward_derived.py", "01_worked_example.py"]
    with pytest.raises(SystemExit, match="no tutorial"):
        make_figures.select(["99"])
