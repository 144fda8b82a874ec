"""The depthwise fast paths for stride 1 and 3 kernel rows (the article's layers).

_depthwise_backward sends stride 1, three kernel rows, no row dilation and a finite kernel to
_depthwise_backward_rows3_kernel (dx, dk and dbias in one pass, two rows at a time), which
multiplies the padding zeros; a non-finite dy then falls back to the kernel that skips padded
taps. These tests cover its cases (odd and even heights, 'valid' where dy has fewer rows than
dx, column dilation, kernel widths, depth multipliers, Inf/NaN in dy or x) against the naive
loops and the general kernel, and run the kernel as plain Python (NUMBA_DISABLE_JIT=1).
"""

import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from scratchconv.kernels import depthwise

SHAPES = [(1, 1), (1, 4), (2, 3), (3, 5), (4, 4), (5, 2), (7, 7)]
GEOMETRY = list(itertools.product(SHAPES, [1, 2, 3], [1, 2], ["same", "valid"], [1, 2]))


def _case(rng, h, w, kw, m, dtype, n=2, c=3):
    x = rng.standard_normal((n, h, w, c)).astype(dtype)  # (N, H, W, C)
    k = rng.standard_normal((3, kw, c, m)).astype(dtype)  # (3, kw, C, M)
    b = rng.standard_normal(c * m).astype(dtype)  # (C*M,)
    return x, k, b


def _general(dy, x, k, g):
    """dx, dk, dbias from the general kernel, which skips padded taps (the reference semantics)."""
    kh, kw, c, m = k.shape
    x_rep = depthwise._repeat_channels(x, m)  # (N, H, W, C*M)
    dx = np.zeros(x_rep.shape, dtype=x.dtype)  # (N, H, W, C*M)
    dk = np.zeros((g.n, kh, kw, c * m), dtype=x.dtype)  # (N, kh, kw, C*M)
    db = np.zeros((g.n, c * m), dtype=x.dtype)  # (N, C*M)
    k_flat = np.ascontiguousarray(k).reshape(kh, kw, c * m)  # (kh, kw, C*M)
    depthwise._depthwise_backward_kernel(dx, dk, db, np.ascontiguousarray(dy), x_rep, k_flat, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left)
    if m > 1:
        dx = dx.reshape(*x.shape, m).sum(axis=4)  # (N, H, W, C)
    return dx, dk.sum(axis=0).reshape(k.shape), db.sum(axis=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows3_backward_matches_naive_and_general(dtype):
    rng = np.random.default_rng(0)
    atol = 1e-4 if dtype == np.float32 else 1e-10
    for (h, w), kw, dw, padding, m in GEOMETRY:
        x, k, b = _case(rng, h, w, kw, m, dtype)
        try:
            x, k, b, g = depthwise.check_depthwise_args(x, k, b, 1, padding, (1, dw))
        except ValueError:  # 'valid' window larger than the image
            continue
        dy = rng.standard_normal((g.n, g.out_h, g.out_w, k.shape[2] * m)).astype(dtype)  # (N, H_out, W_out, C*M)
        fast = depthwise._depthwise_backward(dy, x, k, True, g)
        naive = depthwise.depthwise_conv2d_backward_naive(dy, x, k, b, padding=padding, dilation_rate=(1, dw))
        for got, want in zip(fast, naive):
            np.testing.assert_allclose(got, want, rtol=atol, atol=atol, err_msg=f"{(h, w, kw, dw, padding, m)}")


@pytest.mark.parametrize("where", ["dy_inf", "dy_nan", "x_inf", "x_nan"])
def test_rows3_backward_non_finite_as_general_kernel(where):
    """A non-finite dy or x: the same values, NaN for NaN, as the kernel that skips padded taps."""
    rng = np.random.default_rng(1)
    for (h, w), kw, dw, padding, m in GEOMETRY:
        x, k, b = _case(rng, h, w, kw, m, np.float32)
        try:
            x, k, b, g = depthwise.check_depthwise_args(x, k, b, 1, padding, (1, dw))
        except ValueError:
            continue
        dy = rng.standard_normal((g.n, g.out_h, g.out_w, k.shape[2] * m)).astype(np.float32)  # (N, H_out, W_out, C*M)
        target = dy if where.startswith("dy") else x
        # A border pixel, so the padding is met (the case the fallback exists for).
        target[rng.integers(g.n), 0, rng.integers(target.shape[2]), rng.integers(target.shape[3])] = (
            np.inf if where.endswith("inf") else np.nan
        )
        with np.errstate(invalid="ignore"):
            fast = depthwise._depthwise_backward(dy, x, k, True, g)
            general = _general(dy, x, k, g)
        for got, want in zip(fast, general):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def _rows3_outputs(cases):
    """[dx, dk, dz, db] of _depthwise_backward for each case (h, w, kw, dw, padding, m), with dz and db
    through a selu before (the fused epilogue). Run here and, without JIT, in a child process."""
    outputs = []
    for i, (h, w, kw, dw, padding, m) in enumerate(cases):
        rng = np.random.default_rng(i)
        x = rng.standard_normal((2, h, w, 2)).astype(np.float32)
        k = rng.standard_normal((3, kw, 2, m)).astype(np.float32)
        x, k, b, g = depthwise.check_depthwise_args(x, k, None, 1, padding, (1, dw))
        dy = rng.standard_normal((g.n, g.out_h, g.out_w, 2 * m)).astype(np.float32)
        dx, dk, _ = depthwise._depthwise_backward(dy, x, k, False, g)
        dz, _, _, db = depthwise._depthwise_backward(dy, x, k, False, g, "selu")
        outputs.append([dx, dk, dz, db])
    return outputs


CHILD = """
import json, sys
import numba
assert numba.config.DISABLE_JIT
sys.path.insert(0, sys.argv[2])
from test_depthwise_speedpaths import _rows3_outputs
print(json.dumps([[a.tolist() for a in case] for case in _rows3_outputs(json.loads(sys.argv[1]))]))
"""


def test_rows3_backward_runs_without_jit():
    cases = [(3, 4, 3, 1, "same", 1), (4, 3, 2, 2, "valid", 2), (1, 2, 1, 1, "same", 1), (5, 5, 3, 1, "valid", 1)]
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    tests = os.path.dirname(os.path.abspath(__file__))
    run = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cases), tests], env=env, capture_output=True,
                         text=True, check=True)
    results = json.loads(run.stdout)
    assert len(results) == len(cases)
    for got_case, want_case in zip(results, _rows3_outputs(cases)):
        for got, want in zip(got_case, want_case):  # dx, dk, dz, db
            np.testing.assert_allclose(np.array(got, dtype=np.float32), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("activation", ["relu", "selu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_through_the_activation_before_equals_the_two_passes(activation, dtype):
    # activation='relu'/'selu': x is the layer before's output act(z + b); the backward returns
    # that layer's dz = dx * act'(x) and its bias sums, inside the fused 3x3 kernel (M = 1) or
    # after any other path; against dx from the same backward, then activations.backward_with_bias.
    from scratchconv.kernels import activations

    rng = np.random.default_rng(2)
    forward = activations.get(activation)[0]
    for (h, w), kw, dw, padding, m in GEOMETRY:
        x, k, b = _case(rng, h, w, kw, m, dtype)
        x = forward(x)
        x.reshape(-1)[:2] = 0.0  # the kink
        for strides in (1, 2):
            try:
                xc, kc, bc, g = depthwise.check_depthwise_args(x, k, b, strides, padding, (1, dw) if strides == 1 else 1)
            except ValueError:
                continue
            dy = rng.standard_normal((g.n, g.out_h, g.out_w, kc.shape[2] * m)).astype(dtype)
            dx, dk, db = depthwise._depthwise_backward(dy, xc, kc, True, g)
            dz, dk2, db2, db_before = depthwise._depthwise_backward(dy, xc, kc, True, g, activation)
            dz_expected, db_expected = activations.backward_with_bias(dx, xc, activation)
            tol = 1e-5 if dtype == np.float32 else 1e-12
            np.testing.assert_allclose(dz, dz_expected, rtol=tol, atol=tol)
            np.testing.assert_allclose(db_before, db_expected, rtol=tol, atol=tol * 10)
            np.testing.assert_array_equal(dk2, dk)
            np.testing.assert_array_equal(db2, db)
