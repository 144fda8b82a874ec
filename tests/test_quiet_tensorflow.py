"""TensorFlow's start-up noise never reaches scratchconv's output; real warnings and errors still do.

The commands run in subprocesses with TF_CPP_MIN_LOG_LEVEL removed from the environment (CI
exports it; a user usually has not), so they start TensorFlow exactly as a user's shell would.
None of this needs a GPU: on a machine without one TensorFlow prints the most noise.
"""

import ast
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchconv._tensorflow import STARTUP_NOISE, drop_startup_noise

ROOT = Path(__file__).resolve().parents[1]

# What must never show: fragments of every start-up line TensorFlow 2.21 prints (see
# scratchconv/_tensorflow.py), and the severity prefixes of TensorFlow's C++ log lines.
NOISE = ("oneDNN", "cudart", "cuInit", "absl::InitializeLog", "cpu_feature_guard", "E0000", "I0000", "W0000")

# The lines TensorFlow 2.21 printed here (CPU only, no CUDA driver), verbatim.
MEASURED = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796285785.980621    6397 port.cc:153] oneDNN custom operations are on. You may see slightly \
different numerical results due to floating-point round-off errors from different computation orders. To turn \
them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.
I0000 00:00:1796285785.981078    6397 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will \
not be used.
I0000 00:00:1796285786.055342    6397 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use \
available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 AVX_VNNI FMA, in other operations, \
rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796285802.020781    6492 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed \
call to cuInit: UNKNOWN ERROR (303)
"""

# Lines that must come through: real errors and warnings, including a cuInit failure that is not
# the expected "no driver" / "no device" one.
REAL = """\
E0000 00:00:1796285802.020781    6492 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: \
Failed call to cuInit: CUDA_ERROR_SYSTEM_DRIVER_MISMATCH: system has unsupported display driver / cuda driver \
combination
W0000 00:00:1796285802.1    6492 op_kernel.cc:1] a real warning from TensorFlow
E0000 00:00:1796285802.2    6492 some_kernel.cc:9] a real error from TensorFlow
/somewhere/module.py:3: UserWarning: a real Python warning
  warnings.warn("a real Python warning")
Traceback (most recent call last):
ImportError: a real failure
"""


def clean_env(**extra):
    """This process's environment without TensorFlow's log settings and the filter's off switch."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP_") and k != "SCRATCHCONV_SHOW_TF_STARTUP"}
    env.update(extra)
    return env


def run(args, env=None, cwd=ROOT):
    return subprocess.run(args, cwd=cwd, env=clean_env() if env is None else env, capture_output=True, text=True,
                          timeout=600)


def noise_in(text):
    return [line for line in text.splitlines() if any(fragment in line for fragment in NOISE)]


def test_the_filter_drops_every_measured_line_and_nothing_else():
    assert all(STARTUP_NOISE.search(line) for line in MEASURED.splitlines())
    assert drop_startup_noise(MEASURED) == ""
    assert drop_startup_noise(REAL) == REAL
    # interleaved: the real lines stay, in their order
    mixed = "".join(a + b for a, b in zip(MEASURED.splitlines(keepends=True), REAL.splitlines(keepends=True)))
    assert drop_startup_noise(mixed) == "".join(REAL.splitlines(keepends=True)[: len(MEASURED.splitlines())])


def test_tour_prints_no_tensorflow_noise():
    done = run([sys.executable, "-m", "scratchconv", "tour"])
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Numba vs Keras" in done.stdout  # TensorFlow was imported and used
    assert noise_in(done.stdout + done.stderr) == [], done.stderr[-4000:]


def test_evaluate_with_keras_prints_no_tensorflow_noise(tmp_path):
    """``scratchconv evaluate MODEL.keras --compare-keras``: from_keras, load_model, predict."""
    from scratchconv import nn
    from scratchconv.data import write_fashion_mnist

    rng = np.random.default_rng(0)
    images = lambda n: (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8))
    data_dir = write_fashion_mnist(tmp_path / "fashion", images(5_010), images(20))
    nn.fashion_mnist_model("separable", seed=0).to_keras().save(tmp_path / "model.keras")
    done = run([sys.executable, "-m", "scratchconv", "evaluate", str(tmp_path / "model.keras"),
                "--data-dir", str(data_dir), "--compare-keras"])
    assert done.returncode == 0, done.stderr[-4000:]
    assert "differ on 0 images" in done.stdout
    assert noise_in(done.stdout + done.stderr) == [], done.stderr[-4000:]


# A real warning and a real C++-style error line, both written to stderr while TensorFlow is being
# imported (from an import hook, at the first tensorflow.python module), then a real warning after.
EMIT_DURING_IMPORT = """
import os, sys, warnings, importlib.abc

class Emit(importlib.abc.MetaPathFinder):
    done = False
    def find_spec(self, name, path, target=None):
        if name.startswith("tensorflow.python") and not Emit.done:
            Emit.done = True
            warnings.warn("genuine warning during the TensorFlow import", UserWarning)
            os.write(2, b"E0000 00:00:0.0 1 made_up.cc:1] genuine error during the TensorFlow import\\n")
        return None

sys.meta_path.insert(0, Emit())
from scratchconv._tensorflow import import_keras
keras = import_keras()
assert Emit.done, "the hook never ran: the test would prove nothing"
print("keras", keras.__version__)
warnings.warn("genuine warning after the import", UserWarning)
"""


def test_real_warnings_and_errors_during_the_import_still_show():
    done = run([sys.executable, "-c", EMIT_DURING_IMPORT])
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.startswith("keras ")
    assert "UserWarning: genuine warning during the TensorFlow import" in done.stderr
    assert "made_up.cc:1] genuine error during the TensorFlow import" in done.stderr
    assert "UserWarning: genuine warning after the import" in done.stderr
    assert [line for line in noise_in(done.stderr) if "genuine" not in line] == [], done.stderr


FAIL_DURING_IMPORT = """
import os, sys, importlib.abc

class Fail(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith("tensorflow.python"):
            os.write(2, b"genuine line written just before the failure\\n")
            raise ImportError("genuine failure inside the TensorFlow import")
        return None

sys.meta_path.insert(0, Fail())
from scratchconv._tensorflow import import_tensorflow
import_tensorflow()
"""


def test_what_was_captured_shows_even_when_the_import_fails():
    done = run([sys.executable, "-c", FAIL_DURING_IMPORT])
    assert done.returncode == 1
    line = done.stderr.find("genuine line written just before the failure")
    error = done.stderr.find("ImportError: genuine failure inside the TensorFlow import")
    assert 0 <= line < error, done.stderr[-4000:]
    assert [line for line in noise_in(done.stderr) if "genuine" not in line] == [], done.stderr


@pytest.mark.skipif(not (sys.platform == "linux" and platform.machine() == "x86_64"),
                    reason="the control needs TensorFlow's x86-64 Linux build, which prints the oneDNN notice")
def test_control_without_the_filter_the_noise_is_there():
    """The switch SCRATCHCONV_SHOW_TF_STARTUP=1 lets everything through: then the noise shows, so the
    tests above would see it if the filter failed."""
    done = run([sys.executable, "-c", "from scratchconv._tensorflow import import_keras; import_keras()"],
               env=clean_env(SCRATCHCONV_SHOW_TF_STARTUP="1"))
    assert done.returncode == 0, done.stderr[-4000:]
    assert "oneDNN custom operations are on" in done.stderr
    assert "absl::InitializeLog" in done.stderr


def imports_of_tensorflow(path):
    """(line, module) for every import of tensorflow or keras in the file, also inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        found += [(node.lineno, name) for name in names if name.split(".")[0] in ("tensorflow", "keras")]
    return found


def test_tensorflow_is_imported_only_through_the_helper():
    """scratchconv, reference/ and the tutorials get TensorFlow/Keras from scratchconv._tensorflow."""
    helper = ROOT / "scratchconv" / "_tensorflow.py"
    files = [p for folder in ("scratchconv", "reference", "tutorials") for p in sorted((ROOT / folder).rglob("*.py"))]
    assert helper in files and len(files) > 40
    direct = {str(p.relative_to(ROOT)): imports_of_tensorflow(p) for p in files if p != helper}
    assert {name: found for name, found in direct.items() if found} == {}
