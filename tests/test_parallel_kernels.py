"""Every parallel kernel really runs in parallel.

Numba quietly compiles a ``prange`` loop as a plain loop when it cannot parallelise it (for
example a prange over a conditional expression), and only says so with a
NumbaPerformanceWarning at compile time. The kernels are cached, so that warning shows only
on a fresh cache: a subprocess with an empty NUMBA_CACHE_DIR runs every kernel family once, on
small inputs that reach each path, with that warning turned into an error.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import scratchconv

REPO = Path(scratchconv.__file__).resolve().parents[1]

CHILD = textwrap.dedent(
    """
    import warnings
    import numpy as np
    from numba.core.errors import NumbaPerformanceWarning
    warnings.simplefilter("error", NumbaPerformanceWarning)

    import scratchconv as sc
    from scratchconv.kernels import activations
    from scratchconv.kernels.pooling import max_pool2d, max_pool2d_backward, max_pool2d_backward_with_activation
    from scratchconv.nn.networks import fashion_mnist_model

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        def arr(*shape):
            return rng.standard_normal(shape).astype(dtype)
        for c_in, filters, groups in ((1, 8, 1), (2, 8, 1), (4, 4, 1), (4, 4, 2)):  # cols^T, cols, rows, groups
            x, k, b = arr(2, 7, 6, c_in), arr(3, 3, c_in // groups, filters), arr(filters)
            y = sc.conv2d(x, k, b, padding="same", groups=groups)
            sc.conv2d_backward(y, x, k, b, padding="same", groups=groups)
        for tile_channels in (4, 160):  # Winograd F(4x4), and F(2x2) beyond 128 channels
            x, k, b = arr(2, 7, 6, tile_channels), arr(3, 3, tile_channels, 4), arr(4)
            y = sc.conv2d(x, k, b, padding="same", algorithm="winograd")
            sc.conv2d_backward(y, x, k, b, padding="same", algorithm="winograd")
        x, k, b = arr(2, 7, 6, 4), arr(3, 3, 2, 4), arr(4)
        k[0, 0, 0, 0] = np.inf  # the tap-by-tap path
        with np.errstate(invalid="ignore"):
            sc.conv2d_backward(sc.conv2d(x, k, b, groups=groups), x, k, b, groups=groups)
        for strides, dilation, m in ((1, 1, 1), (2, 1, 1), (1, 2, 2)):  # fused 3x3, any strides, row kernels
            x, k, b = arr(2, 7, 6, 3), arr(3, 3, 3, m), arr(3 * m)
            y = sc.depthwise_conv2d(x, k, b, strides=strides, padding="same", dilation_rate=dilation)
            sc.depthwise_conv2d_backward(y, x, k, b, strides=strides, padding="same", dilation_rate=dilation)
        x, k, b = arr(2, 5, 5, 3), arr(1, 1, 3, 4), arr(4)
        sc.pointwise_conv2d_backward(sc.pointwise_conv2d(x, k, b), x, k, b)
        z = arr(6, 5, 8)
        for name in ("relu", "selu"):
            forward, backward = activations.get(name)
            y = forward(z)
            backward(z, z, y)
            y = activations.forward_with_bias(z.copy(), arr(8), name)
            activations.backward_with_bias(z, y, name)
        x = activations.get("selu")[0](arr(2, 7, 6, 3))
        for pool, strides in ((2, None), (3, 2)):  # windows apart, windows overlapping
            y, winners = max_pool2d(x, pool, strides)
            max_pool2d_backward(y, winners, x.shape)
            max_pool2d_backward_with_activation(y, winners, x, "selu")
        model = fashion_mnist_model("separable", seed=0, dtype=np.dtype(dtype).name)
        model.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
        model.fit(arr(4, 28, 28, 1), np.arange(4), batch_size=2, epochs=1, verbose=0)
    print("all kernels compiled without a serialised prange")
    """
)


def test_no_prange_loop_is_silently_serialised(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba_cache"),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    env.pop("NUMBA_DISABLE_JIT", None)
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-4000:]}"
    assert "without a serialised prange" in done.stdout
