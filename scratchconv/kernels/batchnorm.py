"""Batch normalization, forward and backward, as Keras 3 computes it (TensorFlow backend).

For each channel c (the values along ``axis``; every other axis is summed over, N values in all):

    mean[c]     = sum(x) / N
    variance[c] = sum((x - mean)^2) / N                  biased, as tf.nn.moments (two passes)
    inv_std[c]  = 1 / sqrt(variance + epsilon)
    y           = gamma * (x - mean) * inv_std + beta    (then relu / relu6 if asked: see below)

Backward, with xhat = (x - mean) * inv_std and dz = dy (or dy masked by the relu, see below):

    dbeta  = sum(dz)          dgamma = sum(dz * xhat)
    training mode (mean and variance are functions of x):
        dx = gamma * inv_std / N * (N * dz - sum(dz) - xhat * sum(dz * xhat))
    inference mode (the moving statistics are constants):
        dx = gamma * inv_std * dz

Each function comes in two versions: ``<name>_naive``, a loop per value over a (rows, C) view,
and the fast one (Numba), with the same arguments. The fast kernels work on channels-last data
seen as (R, C) rows (R = N*H*W for NHWC, R = N for 2-D inputs); another ``axis`` is first moved
last (a copy) and moved back after. All sums are float64 (so float32 statistics are as exact as
float32 can hold them); the variance is (sum(d^2) - sum(d)^2 / N) / N with d = x - shift,
in one pass with shift = the first row, or where that would cancel, in a second pass with
shift = mean (the corrected two-pass formula; see ``batch_norm_moments``).

Fused ReLU: ``relu=True`` gives y = min(max(bn(x), 0), max_value) (max_value None: no cap;
6.0: Keras's relu6). Its backward reads the mask from y, as TensorFlow's ReluGrad/Relu6Grad
do: dz = dy where 0 < y < max_value, else 0; or from the forward's byte mask keep (``with_mask``),
the same test taken once, a quarter of the bytes to read twice. The layer exposes both as
``BatchNormalization.forward_with_relu`` / ``backward_with_relu``.
"""

import numba
import numpy as np

from .arguments import check_array, check_grad
from .numba_config import kernel, prange

# --------------------------------------------------------------------------- helpers (shared)


def check_axis(axis, ndim, name="axis"):
    """axis as a non-negative int < ndim; TypeError when not an int, ValueError when out of range."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}={axis} is out of bounds for an input of rank {ndim}")
    return int(axis) % ndim


def _check_channel_vector(v, name, channels, dtype):
    """None, or a (C,) vector of the input's dtype."""
    if v is None:
        return None
    v = check_array(v, name, 1, dtype)
    if v.shape[0] != channels:
        raise ValueError(f"{name} must have shape ({channels},), got {v.shape}")
    return v


def _as_rows(a, axis):
    """(R, C) C-contiguous view (or copy, when axis is not last) with the channels in the columns."""
    if axis != a.ndim - 1:
        a = np.moveaxis(a, axis, -1)
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])


def _from_rows(a2, shape, axis):
    """Undo _as_rows: (R, C) -> the original shape, channels back at ``axis``."""
    moved = (*shape[:axis], *shape[axis + 1:], shape[axis])
    a = a2.reshape(moved)
    return a if axis == len(shape) - 1 else np.ascontiguousarray(np.moveaxis(a, -1, axis))


def _prepare(x, mean, variance, gamma, beta, axis):
    """Checks shared by the forward functions; (x, axis, C, gamma, beta) with Nones made explicit."""
    x = check_array(x, "x", np.ndim(x))
    if x.ndim < 1:
        raise ValueError(f"x must have at least one axis, got shape {x.shape}")
    axis = check_axis(axis, x.ndim)
    channels = x.shape[axis]
    for name, v in (("mean", mean), ("variance", variance)):
        if v is None:
            raise TypeError(f"{name} must be a ({channels},) array, got None")
        _check_channel_vector(v, name, channels, x.dtype)
    gamma = _check_channel_vector(gamma, "gamma", channels, x.dtype)
    beta = _check_channel_vector(beta, "beta", channels, x.dtype)
    gamma = np.ones(channels, x.dtype) if gamma is None else gamma
    beta = np.zeros(channels, x.dtype) if beta is None else beta
    return x, axis, channels, gamma, beta


def _relu_bounds(max_value, dtype):
    """(zero, cap) in dtype, the fused relu's bounds; cap = +inf without a max_value."""
    cap = np.inf if max_value is None else float(max_value)
    return dtype.type(0), dtype.type(cap)


# --------------------------------------------------------------------------- the loop-by-loop versions


def batch_norm_moments_naive(x, axis=-1):
    """(mean, variance), each (C,) in x's dtype: the biased variance, two passes in float64.

    x: any shape, channels along ``axis``.
    """
    x = check_array(x, "x", np.ndim(x))
    x2 = _as_rows(x, check_axis(axis, x.ndim))  # (R, C)
    rows, channels = x2.shape
    mean, variance = np.zeros(channels), np.zeros(channels)  # float64
    for c in range(channels):
        total = 0.0
        for r in range(rows):
            total += float(x2[r, c])
        mean[c] = total / rows
        squares = 0.0
        for r in range(rows):
            squares += (float(x2[r, c]) - mean[c]) ** 2
        variance[c] = squares / rows
    return mean.astype(x.dtype), variance.astype(x.dtype)


def batch_norm_forward_naive(x, mean, variance, gamma, beta, epsilon, axis=-1, relu=False, max_value=None):
    """y = gamma * (x - mean) / sqrt(variance + epsilon) + beta (then the relu if asked), x's shape.

    x: any shape; mean, variance, gamma, beta: (C,) (gamma None: 1, beta None: 0).
    """
    x, axis, channels, gamma, beta = _prepare(x, mean, variance, gamma, beta, axis)
    x2 = _as_rows(x, axis)  # (R, C)
    zero, cap = _relu_bounds(max_value, x.dtype)
    y2 = np.empty_like(x2)  # (R, C)
    for c in range(channels):
        inv_std = 1.0 / np.sqrt(float(variance[c]) + epsilon)
        for r in range(x2.shape[0]):
            v = (float(x2[r, c]) - float(mean[c])) * inv_std * float(gamma[c]) + float(beta[c])
            if relu:
                v = min(max(v, zero), cap) if v == v else v  # NaN stays NaN
            y2[r, c] = v
    return _from_rows(y2, x.shape, axis)


def batch_norm_backward_naive(dy, x, mean, variance, gamma, epsilon, axis=-1, training=True, y=None,
                              relu=False, max_value=None):
    """(dx, dgamma, dbeta): dx of x's shape, dgamma and dbeta (C,). See the module docstring.

    training: True when mean and variance were the batch's own (forward in training mode).
    relu: the forward was forward(..., relu=True, max_value); y is its output (the mask).
    """
    x, axis, channels, gamma, _ = _prepare(x, mean, variance, gamma, None, axis)
    dy2, x2 = _as_rows(check_grad(dy, "dy", x.shape, x.dtype), axis), _as_rows(x, axis)  # (R, C)
    y2 = _as_rows(check_grad(y, "y", x.shape, x.dtype), axis) if relu else None
    zero, cap = _relu_bounds(max_value, x.dtype)
    rows = x2.shape[0]
    dx2 = np.empty_like(x2)  # (R, C)
    dgamma, dbeta = np.zeros(channels), np.zeros(channels)  # float64
    for c in range(channels):
        inv_std = 1.0 / np.sqrt(float(variance[c]) + epsilon)
        dz = [float(dy2[r, c]) if not relu or zero < y2[r, c] < cap else 0.0 for r in range(rows)]
        xhat = [(float(x2[r, c]) - float(mean[c])) * inv_std for r in range(rows)]
        dbeta[c] = sum(dz)
        dgamma[c] = sum(dz[r] * xhat[r] for r in range(rows))
        for r in range(rows):
            if training:
                dx2[r, c] = float(gamma[c]) * inv_std / rows * (rows * dz[r] - dbeta[c] - xhat[r] * dgamma[c])
            else:
                dx2[r, c] = float(gamma[c]) * inv_std * dz[r]
    return _from_rows(dx2, x.shape, axis), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


# --------------------------------------------------------------------------- Numba kernels


@kernel
def _column_sums_kernel(sums, squares, x, shift):
    """sums[k, c] = sum of (x[r, c] - shift[c]), squares[k, c] = sum of its squares, over the k-th
    run of rows; float64. x: (R, C); shift: (C,) float64; sums, squares: (n_runs, C) float64.

    prange over the runs: run k writes only row k of sums and squares (merged by the caller). The
    sums build up in arrays of the run's own (not in views of sums): LLVM then knows they share
    no memory with x and vectorises the channel loop (3x faster at 48x48x64, batch 32).
    """
    rows, channels = x.shape
    n_runs = sums.shape[0]
    for k in prange(n_runs):
        total, total_sq = np.zeros(channels), np.zeros(channels)  # (C,) float64, this run's own
        for r in range(k * rows // n_runs, (k + 1) * rows // n_runs):
            for c in range(channels):
                d = np.float64(x[r, c]) - shift[c]
                total[c] += d
                total_sq[c] += d * d
        sums[k], squares[k] = total, total_sq


@kernel
def _normalize_kernel(y, keep, x, mean, scale, offset, relu, zero, cap):
    """y[r, c] = (x[r, c] - mean[c]) * scale[c] + offset[c], then clipped to [0, cap] if relu
    (NaN stays NaN), and then keep[r, c] = 1 where 0 < y < cap, else 0: the relu's mask, a byte
    per value, which the backward reads instead of y (a quarter of the memory traffic).
    y, x: (R, C); keep: (R, C) uint8 (unread without relu); mean, scale (= gamma * inv_std),
    offset (= beta): (C,), x's dtype. prange over rows: each writes its own row of y and keep.
    """
    rows, channels = x.shape
    for r in prange(rows):
        for c in range(channels):
            v = (x[r, c] - mean[c]) * scale[c] + offset[c]
            if relu:
                v = zero if v < zero else v
                v = cap if v > cap else v
                keep[r, c] = (v > zero) & (v < cap)
            y[r, c] = v


@kernel
def _backward_sums_kernel(sum_dz, sum_dz_xc, dy, x, mean, y, relu, zero, cap, exact):
    """Over the k-th run of rows, float64: sum_dz[k, c] = sum of dz, sum_dz_xc[k, c] = sum of
    dz * (x - mean), where dz = dy, or with relu dy masked to 0 < y < cap (y unread otherwise).
    dy, x, y: (R, C); mean: (C,) float64; sum_dz, sum_dz_xc: (n_runs, C) float64.

    The mask, as _backward_dx_kernel's: exact=False multiplies, dz = dy * keep + 0 (no branch:
    half the time of a select on data where keep is a coin toss, as after a relu); that equals
    the select wherever dy is finite (+ 0 turns the -0 of a negative dy * 0 into 0), and a
    non-finite dy shows in these sums, so the caller then runs both kernels again with exact=True.
    """
    rows, channels = x.shape
    n_runs = sum_dz.shape[0]
    for k in prange(n_runs):
        total, total_xc = np.zeros(channels), np.zeros(channels)  # (C,) float64, this run's own
        for r in range(k * rows // n_runs, (k + 1) * rows // n_runs):
            for c in range(channels):
                g = dy[r, c]
                if relu:
                    keep = (y[r, c] > zero) & (y[r, c] < cap)
                    g = (g if keep else zero) if exact else g * keep + zero
                total[c] += g
                total_xc[c] += np.float64(g) * (np.float64(x[r, c]) - mean[c])
        sum_dz[k], sum_dz_xc[k] = total, total_xc


@kernel
def _backward_dx_kernel(dx, dy, x, mean, y, relu, zero, cap, exact, k_dz, k_mean, k_xc):
    """dx[r, c] = k_dz[c] * dz[r, c] - k_mean[c] - (x[r, c] - mean[c]) * k_xc[c] (dz as in
    _backward_sums_kernel). The module docstring's dx, expanded with xhat = (x - mean) * inv_std:
    k_dz = gamma * inv_std, k_mean = k_dz * sum(dz) / N, k_xc = k_dz * inv_std^2 * sum(dz * (x - mean)) / N
    (k_mean = k_xc = 0 in inference mode). dx, dy, x, y: (R, C); the rest (C,), x's dtype.
    """
    rows, channels = x.shape
    for r in prange(rows):
        for c in range(channels):
            g = dy[r, c]
            if relu:
                keep = (y[r, c] > zero) & (y[r, c] < cap)
                g = (g if keep else zero) if exact else g * keep + zero
            dx[r, c] = k_dz[c] * g - k_mean[c] - (x[r, c] - mean[c]) * k_xc[c]


def _runs(rows):
    """Runs of rows for the sum kernels: one per Numba thread, at least 64 rows each."""
    return max(1, min(numba.get_num_threads(), rows // 64))


# --------------------------------------------------------------------------- the public functions


def batch_norm_moments(x, axis=-1):
    """(mean, variance) of x over every axis but ``axis``, each (C,) in x's dtype (biased variance,
    as tf.nn.moments), from float64 sums of d = x - shift, shift = the first row:

        mean = shift + sum(d) / N,   variance = (sum(d^2) - sum(d)^2 / N) / N

    One pass over x. Its rounding grows with (mean - shift)^2 / variance (the two sums cancel):
    where that passes 1e3 (a channel whose first value lies far out), or on NaN/Inf, a second
    pass sums around the mean itself, the corrected two-pass formula."""
    x = check_array(x, "x", np.ndim(x))
    x2 = _as_rows(x, check_axis(axis, x.ndim))  # (R, C)
    rows, channels = x2.shape
    sums, squares = np.empty((_runs(rows), channels)), np.empty((_runs(rows), channels))  # float64
    shift = x2[0].astype(np.float64) if rows else np.zeros(channels)  # (C,)
    _column_sums_kernel(sums, squares, x2, shift)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):  # an empty batch gives NaN, as TensorFlow
        d = sums.sum(axis=0)  # (C,) float64
        variance = np.maximum((squares.sum(axis=0) - d * d / rows) / rows, 0.0)
        mean = shift + d / rows
        if not np.all((d / rows) ** 2 <= 1e3 * variance):  # cancellation (or NaN/Inf): around the mean
            _column_sums_kernel(sums, squares, x2, mean)
            d = sums.sum(axis=0)
            variance = np.maximum((squares.sum(axis=0) - d * d / rows) / rows, 0.0)
    return mean.astype(x.dtype), variance.astype(x.dtype)


def batch_norm_forward(x, mean, variance, gamma, beta, epsilon, axis=-1, relu=False, max_value=None,
                       with_mask=False):
    """y = gamma * (x - mean) / sqrt(variance + epsilon) + beta, clipped to [0, max_value] if relu.

    x: any shape, channels along ``axis``; mean, variance, gamma, beta: (C,) (gamma None: 1,
    beta None: 0); y: x's shape and dtype. One pass over x (``_normalize_kernel``). with_mask
    (with relu): returns (y, keep), keep (x's shape, uint8) 1 where 0 < y < max_value, which
    ``batch_norm_backward`` reads in place of y.
    """
    x, axis, channels, gamma, beta = _prepare(x, mean, variance, gamma, beta, axis)
    x2 = _as_rows(x, axis)  # (R, C)
    inv_std = 1.0 / np.sqrt(variance.astype(np.float64) + epsilon)  # (C,)
    scale = (gamma * inv_std).astype(x.dtype)
    zero, cap = _relu_bounds(max_value, x.dtype)
    y2 = np.empty_like(x2)  # (R, C)
    keep2 = np.empty(x2.shape if relu else (0, 0), dtype=np.uint8)  # (R, C) with relu, else unused
    _normalize_kernel(y2, keep2, x2, mean, scale, beta, bool(relu), zero, cap)
    y = _from_rows(y2, x.shape, axis)
    return (y, _from_rows(keep2, x.shape, axis)) if relu and with_mask else y


def batch_norm_backward(dy, x, mean, variance, gamma, epsilon, axis=-1, training=True, y=None,
                        relu=False, max_value=None, keep=None):
    """(dx, dgamma, dbeta) for batch_norm_forward(x, mean, variance, gamma, ...); see the module docstring.

    dy, x (and y, the forward's output, needed only with relu): any shape, channels along axis;
    mean, variance, gamma: (C,). training: True when mean and variance were x's own batch
    statistics (Keras's training mode), False for the moving ones. keep (with relu): the
    forward's mask (``with_mask=True``), read instead of y. Two passes: the float64 column
    sums (``_backward_sums_kernel``), then dx (``_backward_dx_kernel``).
    """
    x, axis, channels, gamma, _ = _prepare(x, mean, variance, gamma, None, axis)
    dy2 = _as_rows(check_grad(dy, "dy", x.shape, x.dtype), axis)  # (R, C)
    x2 = _as_rows(x, axis)  # (R, C)
    zero, cap = _relu_bounds(max_value, x.dtype)
    if relu and keep is not None:  # the mask: 1 passes (0 < 1 < 2), 0 does not
        keep = np.asarray(keep)
        if keep.dtype != np.uint8 or keep.shape != x.shape:
            raise ValueError(f"keep must be the forward's uint8 mask of shape {x.shape}, got {keep.dtype} {keep.shape}")
        y2, cap = _as_rows(keep, axis), x.dtype.type(2)  # (R, C)
    else:
        y2 = _as_rows(check_grad(y, "y", x.shape, x.dtype), axis) if relu else dy2  # unread without relu
    rows = x2.shape[0]
    mean64 = mean.astype(np.float64)
    sum_dz, sum_dz_xc = np.empty((_runs(rows), channels)), np.empty((_runs(rows), channels))  # float64
    _backward_sums_kernel(sum_dz, sum_dz_xc, dy2, x2, mean64, y2, bool(relu), zero, cap, False)
    exact = bool(relu) and not (np.isfinite(sum_dz).all() and np.isfinite(sum_dz_xc).all())
    if exact:  # a non-finite dy (or x) met the multiplied mask: the select, as TensorFlow's ReluGrad
        _backward_sums_kernel(sum_dz, sum_dz_xc, dy2, x2, mean64, y2, True, zero, cap, True)
    sum_dz, sum_dz_xc = sum_dz.sum(axis=0), sum_dz_xc.sum(axis=0)  # (C,) float64
    inv_std = 1.0 / np.sqrt(variance.astype(np.float64) + epsilon)  # (C,)
    k_dz = gamma * inv_std  # (C,) float64
    if training:
        k_mean, k_xc = k_dz * sum_dz / rows, k_dz * inv_std**2 * sum_dz_xc / rows
    else:
        k_mean, k_xc = np.zeros(channels), np.zeros(channels)
    dx2 = np.empty_like(x2)  # (R, C)
    k_dz, k_mean, k_xc = (k.astype(x.dtype) for k in (k_dz, k_mean, k_xc))
    _backward_dx_kernel(dx2, dy2, x2, mean, y2, bool(relu), zero, cap, exact, k_dz, k_mean, k_xc)
    dgamma, dbeta = (sum_dz_xc * inv_std).astype(x.dtype), sum_dz.astype(x.dtype)
    return _from_rows(dx2, x.shape, axis), dgamma, dbeta
