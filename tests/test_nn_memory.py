"""fit() keeps freed arrays in the heap (glibc mallopt), so a training step stops page-faulting."""

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import scratchconv

REPO = Path(scratchconv.__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from scratchconv import nn
    from scratchconv.layers import Conv2D, Dense, Flatten, MaxPool2D
    size, pool, n = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    pooling = [MaxPool2D(pool)] if pool > 1 else []
    model = nn.Sequential([Conv2D(16, 3, padding="same", activation="relu", seed=0), *pooling, Flatten(),
                           Dense(10, activation="softmax", seed=0)])
    model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, size, size, 1)).astype(np.float32), rng.integers(0, 10, n)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)  # warm-up: compiles, fills the heap
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model.fit(x, y, batch_size=64, epochs=2, verbose=0)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / (2 * n // 64))  # page faults per step
""")


def _faults_per_step(keep, size, pool, n):
    env = dict(os.environ, SCRATCHCONV_KEEP_FREED_MEMORY=keep, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", CHILD, str(size), str(pool), str(n)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return float(done.stdout.split()[-1])


@pytest.mark.parametrize("size, pool, n", [
    (28, 1, 256),   # each step allocates several 64x28x28x16 float32 arrays (3.2 MB, ~800 pages each)
    (128, 8, 128),  # and 64x128x128x16 ones (67 MB, above the largest mmap threshold glibc takes)
])
def test_training_steps_reuse_memory_instead_of_faulting_in_new_pages(size, pool, n):
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's: nothing to test elsewhere")
    kept, default = _faults_per_step("1", size, pool, n), _faults_per_step("0", size, pool, n)
    assert default > 500, default
    assert kept < default / 10, (kept, default)
