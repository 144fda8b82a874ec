"""The Winograd engine for 3x3 convolutions (standard_winograd*.py), without TensorFlow.

- the matrices by hand: 1-D F(2, 3) and F(4, 3) equal a direct correlation, and the Numba
  1-D transforms equal the matrices;
- the fast forward and backward against ``scratchconv.naive`` (property test over sizes,
  channels, groups, paddings, batch 0..3, both tiles, float64 and float32), with chunks of one
  tile row, with the input kept between forward and backward;
- the loop-by-loop twins against ``scratchconv.naive``;
- float64 central finite differences of dkernel and dx (no reference implementation involved);
- the kernels as plain Python (NUMBA_DISABLE_JIT=1).

Tolerances as in keras_reference.py: atol = rtol * max(1, max|reference|), rtol 1e-10 in
float64 and 1e-5 in float32 (the float32 results against a float64 reference).
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scratchconv import naive
from scratchconv.kernels import blas, standard_winograd, standard_winograd_fused, standard_winograd_transforms
from scratchconv.kernels.arguments import conv_geometry
from scratchconv.kernels.standard import _prepare
from scratchconv.kernels.standard_winograd import (
    MATRICES,
    conv2d_winograd,
    conv2d_winograd_naive,
    release_scratch,
    winograd_applies,
    winograd_pays,
    winograd_tile,
)
from scratchconv.kernels.standard_winograd_backward import conv2d_backward_winograd, conv2d_backward_winograd_naive

RTOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}


def assert_close(name, actual, expected, rtol):
    """Same shape, and |actual - expected| <= rtol * max(1, max|expected|) everywhere."""
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max())) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * scale, err_msg=name)


def make_case(rng, n, h, w, cg, fg, groups, padding, dtype=np.float64, with_bias=True):
    """Checked (x, kernel, bias, dy, g, groups) through standard._prepare, float64 data cast to dtype."""
    x = rng.standard_normal((n, h, w, cg * groups))  # (N, H, W, C_in)
    kernel = rng.standard_normal((3, 3, cg, fg * groups))  # (3, 3, Cg, F)
    bias = rng.standard_normal(fg * groups) if with_bias else None  # (F,)
    x, kernel, bias, _, g, groups = _prepare(x, kernel, bias, 1, padding, 1, groups)
    dy = rng.standard_normal((n, g.out_h, g.out_w, fg * groups))  # (N, H_out, W_out, F)
    cast = (lambda a: None if a is None else a.astype(dtype))
    return cast(x), cast(kernel), cast(bias), cast(dy), g, groups


def fast(x, kernel, bias, dy, g, groups, tile, keep=False):
    """y and (dx, dkernel, dbias) from the fast functions."""
    y, kept = conv2d_winograd(x, kernel, bias, g, groups, keep=keep, tile=tile)
    grads = conv2d_backward_winograd(dy, x, kernel, bias is not None, g, groups, True, kept, tile)
    return y, grads


# --------------------------------------------------------------------------- the matrices


@pytest.mark.parametrize("tile", [2, 4])
def test_one_dimension_equals_correlation(tile):
    # y = A^T [(G g) * (B^T d)]: tile outputs of a 3-tap correlation from tile + 2 inputs
    b_t, gm, a_t = MATRICES[tile]
    rng = np.random.default_rng(0)
    for _ in range(20):
        d, taps = rng.standard_normal(tile + 2), rng.standard_normal(3)
        expected = [d[i : i + 3] @ taps for i in range(tile)]
        np.testing.assert_allclose(a_t @ ((gm @ taps) * (b_t @ d)), expected, rtol=0, atol=1e-13)


def test_f23_by_hand():
    # The module docstring's four multiplications, on d = 1, 2, 3, 4 and g = 1, 0, -1.
    d0, d1, d2, d3 = 1.0, 2.0, 3.0, 4.0
    g0, g1, g2 = 1.0, 0.0, -1.0
    m1, m2 = (d0 - d2) * g0, (d1 + d2) * (g0 + g1 + g2) / 2
    m3, m4 = (d2 - d1) * (g0 - g1 + g2) / 2, (d1 - d3) * g2
    assert (m1 + m2 + m3, m2 - m3 - m4) == (d0 * g0 + d1 * g1 + d2 * g2, d1 * g0 + d2 * g1 + d3 * g2) == (-2.0, -2.0)
    b_t, gm, a_t = MATRICES[2]
    np.testing.assert_array_equal(a_t @ ((gm @ [g0, g1, g2]) * (b_t @ [d0, d1, d2, d3])), [-2.0, -2.0])


@pytest.mark.parametrize("tile", [2, 4])
def test_two_dimensions_equal_correlation(tile):
    # Y = A^T [(G g G^T) * (B^T d B)] A on one tile and one channel
    b_t, gm, a_t = MATRICES[tile]
    rng = np.random.default_rng(1)
    d, taps = rng.standard_normal((tile + 2, tile + 2)), rng.standard_normal((3, 3))
    expected = [[np.sum(d[i : i + 3, j : j + 3] * taps) for j in range(tile)] for i in range(tile)]
    np.testing.assert_allclose(a_t @ ((gm @ taps @ gm.T) * (b_t @ d @ b_t.T)) @ a_t.T, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("tile", [2, 4])
def test_numba_transforms_equal_the_matrices(tile):
    # Each written-out 1-D transform, on the unit vectors (rows of an identity), is its matrix.
    b_t, _, a_t = MATRICES[tile]
    t = standard_winograd_transforms
    one_d = {"input": (b_t, lambda *a: t._gather_1d(tile, False, *a)),
             "output_adjoint": (a_t.T, lambda *a: t._gather_1d(tile, True, *a)),
             "output": (a_t, lambda *a: t._output_1d(tile, *a)),
             "input_adjoint": (b_t.T, lambda *a: t._scatter_1d(tile, *a, False))}
    for name, (matrix, transform) in one_d.items():
        rows_in = matrix.shape[1]
        dst = np.zeros((matrix.shape[0], rows_in))  # (rows out, channels = rows in)
        transform(dst, 0, 1, np.eye(rows_in), 0, 1)
        np.testing.assert_array_equal(dst, matrix, err_msg=name)
    dst = np.ones((tile + 2, tile + 2))
    t._scatter_1d(tile, dst, 0, 1, np.eye(tile + 2), 0, 1, True)  # added onto dst
    np.testing.assert_array_equal(dst, b_t.T + 1)


# --------------------------------------------------------------------------- fast vs naive


@given(data=st.data())
def test_fast_equals_naive(data):
    draw = lambda strategy, label: data.draw(strategy, label=label)  # noqa: E731
    groups = draw(st.integers(1, 3), "groups")
    cg, fg = draw(st.integers(1, 8 // groups), "cg"), draw(st.integers(1, 8 // groups), "fg")
    padding = draw(st.sampled_from(["valid", "same"]), "padding")
    low = 3 if padding == "valid" else 1
    h, w = draw(st.integers(low, 12), "h"), draw(st.integers(low, 12), "w")
    n, tile = draw(st.integers(0, 3), "n"), draw(st.sampled_from([2, 4]), "tile")
    with_bias, keep = draw(st.booleans(), "with_bias"), draw(st.booleans(), "keep")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), "seed"))
    x, kernel, bias, dy, g, groups = make_case(rng, n, h, w, cg, fg, groups, padding, with_bias=with_bias)
    config = dict(padding=padding, groups=groups)
    y_ref = naive.conv2d(x, kernel, bias, **config)
    grads_ref = naive.conv2d_backward(dy, x, kernel, bias, **config)
    for dtype in (np.float64, np.float32):
        cast = (lambda a: None if a is None else a.astype(dtype))
        y, grads = fast(cast(x), cast(kernel), cast(bias), cast(dy), g, groups, tile, keep)
        rtol = RTOL[np.dtype(dtype)]
        assert y.dtype == dtype and all(a is None or a.dtype == dtype for a in grads)
        assert_close("y", y, y_ref, rtol)
        for name, got, expected in zip(("dx", "dkernel", "dbias"), grads, grads_ref):
            if expected is None:
                assert got is None, name
            else:
                assert_close(name, got, expected, rtol)


@pytest.mark.parametrize("tile", [2, 4])
def test_chunks_of_one_tile_row(monkeypatch, tile):
    # CHUNK_BYTES = 1: one tile row per chunk, so chunks split images and dx's overlapping
    # patches meet across chunks; groups, 'same' and a ragged edge in both directions.
    monkeypatch.setattr(standard_winograd, "CHUNK_BYTES", 1)
    rng = np.random.default_rng(2)
    for padding in ("same", "valid"):
        x, kernel, bias, dy, g, groups = make_case(rng, 2, 9, 11, 2, 3, 2, padding)
        y, grads = fast(x, kernel, bias, dy, g, groups, tile, keep=True)
        assert_close("y", y, naive.conv2d(x, kernel, bias, padding=padding, groups=2), 1e-10)
        for name, got, expected in zip(("dx", "dkernel", "dbias"), grads,
                                       naive.conv2d_backward(dy, x, kernel, bias, padding=padding, groups=2)):
            assert_close(name, got, expected, 1e-10)


def test_kept_input(monkeypatch):
    rng = np.random.default_rng(3)
    x, kernel, bias, dy, g, groups = make_case(rng, 2, 6, 7, 3, 4, 1, "same")
    y, kept = conv2d_winograd(x, kernel, bias, g, groups, keep=True, tile=4)
    assert kept is not None and kept.shape == (36 * 2 * 2 * 2 * 3,)  # alpha^2 * N * tiles_h * tiles_w * C_in
    with_kept = conv2d_backward_winograd(dy, x, kernel, True, g, groups, True, kept, 4)
    without = conv2d_backward_winograd(dy, x, kernel, True, g, groups, True, None, 4)
    for a, b in zip(with_kept, without):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="does not belong"):  # the V of another tile size
        conv2d_backward_winograd(dy, x, kernel, True, g, groups, True, kept, 2)
    release_scratch()  # the scratch buffers are allocated again when needed
    for a, b in zip(conv2d_backward_winograd(dy, x, kernel, True, g, groups, True, kept, 4), without):
        np.testing.assert_array_equal(a, b)
    monkeypatch.setattr(standard_winograd, "KEEP_MAX_BYTES", 0)
    assert conv2d_winograd(x, kernel, bias, g, groups, keep=True, tile=4)[1] is None


@pytest.mark.parametrize("tile", [2, 4])
def test_no_input_gradient_and_empty_batch(tile):
    rng = np.random.default_rng(4)
    x, kernel, bias, dy, g, groups = make_case(rng, 2, 5, 5, 2, 3, 1, "same", dtype=np.float32)
    dx, dkernel, dbias = conv2d_backward_winograd(dy, x, kernel, False, g, groups, False, None, tile)
    assert dx is None and dbias is None
    assert_close("dkernel", dkernel, naive.conv2d_backward(dy, x, kernel, padding="same")[1], 1e-5)
    x, kernel, bias, dy, g, groups = make_case(rng, 0, 5, 4, 2, 3, 1, "valid", dtype=np.float32)
    y, kept = conv2d_winograd(x, kernel, bias, g, groups, keep=True, tile=tile)
    assert y.shape == (0, 3, 2, 3) and y.dtype == np.float32
    dx, dkernel, dbias = conv2d_backward_winograd(dy, x, kernel, True, g, groups, True, kept, tile)
    assert dx.shape == x.shape and not dkernel.any() and not dbias.any()


def test_applies_and_tile():
    x_shape = (2, 16, 16, 4)

    def geometry(kernel_hw, strides=(1, 1), dilation=(1, 1), padding="same"):
        return conv_geometry(x_shape, kernel_hw, strides, padding, dilation)

    kernel = np.zeros((3, 3, 4, 8))
    assert winograd_applies(kernel, 1, geometry((3, 3)))
    assert winograd_applies(kernel[:, :, :2], 2, geometry((3, 3), padding="valid"))
    assert not winograd_applies(np.zeros((5, 5, 4, 8)), 1, geometry((5, 5)))
    assert not winograd_applies(np.zeros((3, 1, 4, 8)), 1, geometry((3, 1)))
    assert not winograd_applies(kernel, 1, geometry((3, 3), strides=(1, 2)))
    assert not winograd_applies(kernel, 1, geometry((3, 3), dilation=(2, 1)))
    g = geometry((3, 3))
    for c, tile in ((3, 4), (32, 4), (64, 4), (128, 4), (256, 2)):
        assert winograd_tile(np.zeros((3, 3, c, c)), 1, g) == tile
    assert winograd_tile(np.zeros((3, 3, 64, 512)), 1, g) == 2  # dx sums over 512 filters
    assert winograd_tile(np.zeros((3, 3, 128, 512)), 4, g) == 4  # 128 per group


@pytest.mark.parametrize("fused", [True, False])
def test_auto_rule(fused, monkeypatch):
    """winograd_pays: the fused kernels' rule where NumPy's OpenBLAS is reachable, else the per-step path's."""
    if fused and blas.ADDRESSES is None:
        pytest.fail("NumPy's OpenBLAS is not reachable from the kernels here (blas.ADDRESSES is None)")
    if not fused:
        monkeypatch.setattr(blas, "ADDRESSES", None)
    g = conv_geometry((2, 16, 16, 4), (3, 3), (1, 1), "same", (1, 1))
    cases = {True: ((3, 3, False), (16, 16, False), (16, 32, True), (32, 16, True), (24, 24, True), (32, 32, True),
                    (64, 64, True), (128, 128, True), (256, 256, False)),
             False: ((3, 3, False), (32, 32, False), (64, 64, True), (128, 128, True), (256, 256, False))}[fused]
    for c, f, pays in cases:
        assert winograd_pays(np.zeros((3, 3, c, f)), 1, g) == pays, (c, f)
    assert not winograd_pays(np.zeros((3, 3, 64, 128)), 2, g)  # groups: not measured
    assert not winograd_pays(np.zeros((5, 5, 64, 64)), 1, conv_geometry((2, 16, 16, 4), (5, 5), (1, 1), "same", (1, 1)))
    sizes = {True: (((14, 14), True), ((7, 7), True), ((6, 6), False), ((4, 4), False), ((49, 1), True)),
             False: (((14, 14), False), ((7, 7), False), ((16, 16), True), ((8, 32), True), ((128, 1), False))}[fused]
    for hw, pays in sizes:
        big = conv_geometry((2, *hw, 64), (3, 3), (1, 1), "same", (1, 1))
        assert winograd_pays(np.zeros((3, 3, 64, 64)), 1, big) == pays, hw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding, groups, shape, filters", [("same", 1, (3, 9, 11, 5), 6), ("valid", 2, (2, 10, 7, 8), 4),
                                                             ("same", 1, (2, 30, 30, 40), 24)])
def test_fused_equals_per_step_path(dtype, padding, groups, shape, filters, monkeypatch):
    """The fused kernels (per-thread BLAS, chunks of a few rows: FUSED_CHUNK_BYTES made small so
    that there are many chunks and both passes of the backward) against the np.matmul path and
    the loop version; kept V from a training forward gives the same gradients."""
    if blas.ADDRESSES is None:
        pytest.fail("NumPy's OpenBLAS is not reachable from the kernels here (blas.ADDRESSES is None)")
    rng = np.random.default_rng(11)
    n, h, w, c = shape
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((3, 3, c // groups, filters)).astype(dtype)
    bias = rng.standard_normal(filters).astype(dtype)
    g = conv_geometry(x.shape, (3, 3), (1, 1), padding, (1, 1))
    dy = rng.standard_normal((n, g.out_h, g.out_w, filters)).astype(dtype)
    results = {}
    for fused in (True, False):
        with monkeypatch.context() as patch:
            patch.setattr(standard_winograd_fused, "FUSED_CHUNK_BYTES", 8 << 10)
            if not fused:
                patch.setattr(blas, "ADDRESSES", None)
            y, kept = conv2d_winograd(x, kernel, bias, g, groups, keep=True, tile=4)
            results[fused] = (y, *conv2d_backward_winograd(dy, x, kernel, True, g, groups, kept=kept, tile=4),
                              *conv2d_backward_winograd(dy, x, kernel, True, g, groups, tile=4)[:2])
    expected = (naive.conv2d(x, kernel, bias, padding=padding, groups=groups),
                *naive.conv2d_backward(dy, x, kernel, bias, padding=padding, groups=groups))
    expected = expected + expected[1:3]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for got_fused, got_step, want in zip(results[True], results[False], expected):
        scale = np.abs(want).max()
        assert np.abs(got_fused - want).max() <= tol * scale
        assert np.abs(got_fused - got_step).max() <= tol * scale


# --------------------------------------------------------------------------- the loop versions


@pytest.mark.parametrize("tile", [2, 4])
@pytest.mark.parametrize("padding, groups, shape", [("same", 1, (2, 5, 6, 3)), ("valid", 2, (1, 7, 5, 4)),
                                                    ("same", 2, (1, 1, 2, 2))])
def test_naive_twins_equal_naive(tile, padding, groups, shape):
    rng = np.random.default_rng(5)
    n, h, w, c = shape
    x, kernel, bias, dy, g, groups = make_case(rng, n, h, w, c // groups, 3, groups, padding)
    config = dict(padding=padding, groups=groups)
    y = conv2d_winograd_naive(x, kernel, bias, tile=tile, **config)
    assert_close("y", y, naive.conv2d(x, kernel, bias, **config), 1e-12)
    expected = naive.conv2d_backward(dy, x, kernel, bias, **config)
    for name, got, want in zip(("dx", "dkernel", "dbias"),
                               conv2d_backward_winograd_naive(dy, x, kernel, bias, tile=tile, **config), expected):
        assert_close(name, got, want, 1e-12)


def test_naive_twin_refuses_other_kernels():
    with pytest.raises(ValueError, match="3x3"):
        conv2d_winograd_naive(np.zeros((1, 5, 5, 1)), np.zeros((2, 2, 1, 1)))


# --------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("tile", [2, 4])
def test_gradients_equal_finite_differences(tile):
    # L = sum(dy * y) is linear in each element of x and of the kernel: the central difference
    # with a step of 0.25 (exact in binary) has no truncation error, only rounding.
    rng = np.random.default_rng(6)
    x, kernel, bias, dy, g, groups = make_case(rng, 1, 5, 6, 2, 3, 1, "same")
    dx, dkernel, _ = conv2d_backward_winograd(dy, x, kernel, True, g, groups, True, None, tile)
    step = 0.25

    def loss():
        return float(np.sum(dy * conv2d_winograd(x, kernel, bias, g, groups, tile=tile)[0]))

    for array, grad in ((x, dx), (kernel, dkernel)):
        numeric = np.zeros_like(array)
        for index in np.ndindex(array.shape):
            saved = array[index]
            array[index] = saved + step
            up = loss()
            array[index] = saved - step
            numeric[index] = (up - loss()) / (2 * step)
            array[index] = saved
        assert_close("gradient", grad, numeric, 1e-10)


# --------------------------------------------------------------------------- plain Python


def test_runs_without_jit():
    """NUMBA_DISABLE_JIT=1: the Winograd kernels run as plain Python (a debugger can step through them)."""
    code = (
        "import numpy as np, numba\n"
        "from scratchconv import naive\n"
        "from scratchconv.kernels import standard_winograd as w, standard_winograd_backward as wb\n"
        "from scratchconv.kernels import standard_winograd_transforms as t\n"
        "from scratchconv.kernels.standard import _prepare\n"
        "assert not isinstance(t._gather_tiles, numba.core.dispatcher.Dispatcher)\n"
        "r = np.random.default_rng(7)\n"
        "for tile, pad, groups in ((2, 'same', 2), (4, 'valid', 1)):\n"
        "    x, k = r.standard_normal((2, 6, 5, 4)), r.standard_normal((3, 3, 4 // groups, 4))\n"
        "    x, k, b, _, g, groups = _prepare(x, k, r.standard_normal(4), 1, pad, 1, groups)\n"
        "    dy = r.standard_normal((2, g.out_h, g.out_w, 4))\n"
        "    y, kept = w.conv2d_winograd(x, k, b, g, groups, keep=True, tile=tile)\n"
        "    grads = wb.conv2d_backward_winograd(dy, x, k, True, g, groups, True, kept, tile)\n"
        "    c = dict(padding=pad, groups=groups)\n"
        "    d = max(abs(y - naive.conv2d(x, k, b, **c)).max(),\n"
        "            *(abs(a - e).max() for a, e in zip(grads, naive.conv2d_backward(dy, x, k, b, **c))))\n"
        "    assert d < 1e-12, d\n"
        "print('ok')\n"
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


# --------------------------------------------------------------------------- the public algorithm keyword


def test_auto_chooses_by_the_measured_rule():
    """"auto" takes Winograd where it measured faster (with the fused kernels: 16 + 32 to 128
    channels and filters, 3x3, stride 1, outputs of 7x7 or more), im2col for few input channels,
    the row method elsewhere (standard._choose)."""
    from scratchconv.kernels.standard import _choose

    if blas.ADDRESSES is None:
        pytest.fail("NumPy's OpenBLAS is not reachable from the kernels here (blas.ADDRESSES is None)")

    def choice(shape, kernel, strides=1, groups=1):
        x = np.zeros(shape, np.float32)
        k = np.zeros((*kernel, shape[3] // groups, shape[3]), np.float32)
        g = _prepare(x, k, None, strides, "same", 1, groups)[4]
        return _choose(k, groups, g, "auto", x)

    assert choice((2, 28, 28, 64), (3, 3)) == "winograd"
    assert choice((2, 16, 16, 128), (3, 3)) == "winograd"
    assert choice((2, 14, 14, 64), (3, 3)) == "winograd"
    assert choice((2, 7, 7, 128), (3, 3)) == "winograd"
    assert choice((2, 28, 28, 32), (3, 3)) == "winograd"
    assert choice((2, 4, 4, 128), (3, 3)) == "rows"  # under 7x7 outputs
    assert choice((2, 28, 28, 16), (3, 3)) == "rows"  # 16 channels and 16 filters: too few
    assert choice((2, 28, 28, 256), (3, 3)) == "rows"  # beyond what F(4x4)'s float32 error was measured for
    assert choice((2, 28, 28, 64), (5, 5)) == "rows"
    assert choice((2, 28, 28, 64), (3, 3), strides=2) == "im2col"  # column strides
    assert choice((2, 28, 28, 64), (3, 3), groups=2) == "rows"


def test_auto_chooses_by_what_the_call_can_know():
    """standard.auto_algorithm: the public forward by the forward's time, the public backward
    (nothing kept) by the backward's alone, a layer in training by forward + kept backward."""
    from scratchconv.kernels.standard import PURPOSES, auto_algorithm

    def choices(n, h, c, f):
        x, k = np.zeros((n, h, h, c), np.float32), np.zeros((3, 3, c, f), np.float32)
        g = _prepare(x, k, None, 1, "same", 1, 1)[4]
        return tuple(auto_algorithm(k, 1, g, purpose) for purpose in PURPOSES)  # forward, backward, training

    if blas.ADDRESSES is None:
        pytest.fail("NumPy's OpenBLAS is not reachable from the kernels here (blas.ADDRESSES is None)")
    assert choices(32, 28, 32, 32) == ("winograd", "winograd", "winograd")  # the fused kernels' rule
    assert choices(32, 28, 16, 16) == ("rows", "rows", "rows")
    assert choices(32, 14, 64, 64) == ("winograd", "winograd", "winograd")
    assert choices(32, 7, 128, 128) == ("winograd", "winograd", "winograd")
    assert choices(64, 32, 128, 128) == ("winograd", "winograd", "winograd")
    assert choices(64, 64, 64, 64) == ("winograd", "winograd", "winograd")
    assert choices(64, 128, 32, 32) == ("winograd", "winograd", "winograd")  # V too large to keep: both passes pick alike
    assert choices(64, 128, 3, 32) == ("im2col",) * 3  # few input channels: im2col for every purpose
    assert choices(2, 6, 4, 4) == ("rows",) * 3  # smaller than anything measured: the forward's choice
    assert choices(512, 28, 64, 64) == ("winograd", "winograd", "winograd")  # V (231 MB) not kept, large


@pytest.mark.parametrize("algorithm", ["auto", "rows", "im2col", "winograd"])
def test_public_functions_with_each_algorithm_equal_naive(algorithm):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 9, 7, 64))  # 64 channels: "auto" takes Winograd too
    kernel = rng.standard_normal((3, 3, 64, 64))
    bias = rng.standard_normal(64)
    import scratchconv

    for padding in ("same", "valid"):
        y = scratchconv.conv2d(x, kernel, bias, padding=padding, algorithm=algorithm)
        dy = rng.standard_normal(y.shape)
        grads = scratchconv.conv2d_backward(dy, x, kernel, bias, padding=padding, algorithm=algorithm)
        assert_close("y", y, naive.conv2d(x, kernel, bias, padding=padding), 1e-10)
        for name, got, want in zip(("dx", "dkernel", "dbias"), grads,
                                   naive.conv2d_backward(dy, x, kernel, bias, padding=padding)):
            assert_close(name, got, want, 1e-10)


def test_non_finite_input_never_goes_through_the_transforms():
    """Winograd's sums would turn an Inf pixel into NaN over its whole tile; a forced "winograd"
    with Inf/NaN in x (or dy) computes by the row method, so every algorithm agrees exactly."""
    import scratchconv

    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 8, 8, 4)).astype(np.float32)
    x[0, 3, 3, 1], x[0, 5, 6, 2] = np.inf, np.nan
    kernel = np.abs(rng.standard_normal((3, 3, 4, 4))).astype(np.float32)
    rows = scratchconv.conv2d(x, kernel, padding="same", algorithm="rows")
    wino = scratchconv.conv2d(x, kernel, padding="same", algorithm="winograd")
    np.testing.assert_array_equal(wino, rows)
    assert np.isposinf(rows).any() and np.isnan(rows).any()
    dy = rng.standard_normal(rows.shape).astype(np.float32)
    dy[0, 0, 0, 0] = np.inf
    for got, want in zip(scratchconv.conv2d_backward(dy, x, kernel, padding="same", algorithm="winograd"),
                         scratchconv.conv2d_backward(dy, x, kernel, padding="same", algorithm="rows")):
        np.testing.assert_array_equal(got, want)


def test_layer_takes_the_algorithm():
    from scratchconv.layers import Conv2D

    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 6, 8)).astype(np.float32)
    layers = {a: Conv2D(8, 3, padding="same", activation="relu", algorithm=a, seed=1) for a in ("rows", "winograd")}
    out = {}
    for name, layer in layers.items():
        y = layer.forward(x)
        out[name] = (y, layer.backward(np.ones_like(y)), *layer.gradients)
    for a, b in zip(out["rows"], out["winograd"]):
        assert_close("layer", a, b, 1e-5)
    with pytest.raises(ValueError, match="algorithm='winograd'"):
        Conv2D(8, 5, algorithm="winograd")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        Conv2D(8, 3, algorithm="direct")
