"""Average pooling, forward and backward, as TensorFlow computes it (``tf.nn.avg_pool2d`` and AvgPoolGrad).

With x (N, H, W, C), a pool_h x pool_w window moved by (stride_h, stride_w), the window of
output (i, j) starts at row i * stride_h - pad_top and column j * stride_w - pad_left, and

    y[n, i, j, c] = (sum of x[n, row, col, c] over the window's cells inside x) / count[i, j]
    count[i, j]   = the number of the window's cells inside x

'valid' windows lie wholly inside x, so count = pool_h * pool_w. With 'same' the padding
(the odd pixel at the bottom/right, as everywhere in TensorFlow) is not averaged in: TF's
AvgPool divides by the number of real cells, so a window hanging over the edge averages only
what it covers (a 2x2 window over a corner of ones gives 1, not 0.25).

Backward, for dy (N, H_out, W_out, C): y is linear in x, and each window hands every one of
its real cells dy / count; overlapping windows add up:

    dx[n, row, col, c] = sum over the windows (i, j) holding (row, col) of dy[n, i, j, c] / count[i, j]

The loop-by-loop versions come first, then the Numba kernels, then the public functions.
"""

import numpy as np

from .arguments import check_array, check_grad, check_padding, is_int, keras_pair
from .numba_config import kernel, prange
from .pooling import pool_geometry

# --------------------------------------------------------------------------- the arguments


def check_pool_args(input_shape, pool_size, strides, padding):
    """((pool_h, pool_w), (stride_h, stride_w), (out_h, pad_top), (out_w, pad_left)) for an
    NHWC input_shape; ValueError when the pool leaves no output."""
    (ph, pw) = keras_pair(pool_size, "pool_size")
    (sh, sw) = (ph, pw) if strides is None else keras_pair(strides, "strides")
    padding = check_padding(padding)
    h, w = input_shape[1], input_shape[2]
    out_h, top = pool_geometry(h, ph, sh, padding)
    out_w, left = pool_geometry(w, pw, sw, padding)
    if h < 1 or w < 1 or out_h < 1 or out_w < 1:
        raise ValueError(f"average pooling a {h}x{w} input with pool_size {(ph, pw)} and padding='{padding}' "
                         f"leaves no output")
    return (ph, pw), (sh, sw), (out_h, top), (out_w, left)


def _check_input_shape(input_shape):
    if not (isinstance(input_shape, (tuple, list)) and len(input_shape) == 4 and all(is_int(d) for d in input_shape)):
        raise ValueError(f"input_shape must be the 4 ints (N, H, W, C) of x, got {input_shape!r}")
    return tuple(int(d) for d in input_shape)


def window_counts(h, w, out_h, out_w, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, dtype):
    """count (H_out, W_out) in dtype: how many cells of window (i, j) lie inside the H x W input.

    The cells inside form a rectangle, so count is (rows inside) * (columns inside). The kernels
    divide by it in x's dtype (float32 / float32), the same with and without Numba.
    """
    def inside(size, out, pool, stride, pad):
        start = np.arange(out) * stride - pad  # (out,) each window's first row (column)
        return np.minimum(start + pool, size) - np.maximum(start, 0)

    rows = inside(h, out_h, pool_h, stride_h, pad_top)  # (H_out,)
    cols = inside(w, out_w, pool_w, stride_w, pad_left)  # (W_out,)
    return np.outer(rows, cols).astype(dtype)  # (H_out, W_out)


# --------------------------------------------------------------------------- loop by loop


def average_pool2d_naive(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling, one output value at a time.

    x: (N, H, W, C) float32 or float64  ->  y: (N, H_out, W_out, C), same dtype, with
    y[n, i, j, c] = the mean of x[n, :, :, c] over the cells of window (i, j) inside x.
    """
    x = check_array(x, "x", 4)
    (ph, pw), (sh, sw), (out_h, top), (out_w, left) = check_pool_args(x.shape, pool_size, strides, padding)
    n_batch, h, w, channels = x.shape
    y = np.zeros((n_batch, out_h, out_w, channels), dtype=x.dtype)  # (N, H_out, W_out, C)
    for n in range(n_batch):
        for i in range(out_h):
            for j in range(out_w):
                for c in range(channels):
                    total, count = x.dtype.type(0), 0
                    for di in range(ph):
                        for dj in range(pw):
                            row, col = i * sh - top + di, j * sw - left + dj
                            if 0 <= row < h and 0 <= col < w:  # a padded cell is not averaged in
                                total += x[n, row, col, c]
                                count += 1
                    y[n, i, j, c] = total / count
    return y


def average_pool2d_backward_naive(dy, input_shape, pool_size=2, strides=None, padding="valid"):
    """dx of average_pool2d, one window at a time: each window hands its real cells dy / count.

    dy: (N, H_out, W_out, C); input_shape: x's (N, H, W, C)  ->  dx: input_shape, dy's dtype.
    """
    input_shape = _check_input_shape(input_shape)
    (ph, pw), (sh, sw), (out_h, top), (out_w, left) = check_pool_args(input_shape, pool_size, strides, padding)
    n_batch, h, w, channels = input_shape
    dy = check_grad(dy, "dy", (n_batch, out_h, out_w, channels), None)
    dx = np.zeros(input_shape, dtype=dy.dtype)  # (N, H, W, C)
    for n in range(n_batch):
        for i in range(out_h):
            for j in range(out_w):
                rows = [r for r in range(i * sh - top, i * sh - top + ph) if 0 <= r < h]
                cols = [q for q in range(j * sw - left, j * sw - left + pw) if 0 <= q < w]
                for c in range(channels):
                    share = dy[n, i, j, c] / (len(rows) * len(cols))
                    for row in rows:
                        for col in cols:
                            dx[n, row, col, c] += share
    return dx


# --------------------------------------------------------------------------- Numba kernels


@kernel
def average_pool2d_kernel(y, x, count, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """y[n, i, j, c] = the sum of x[n, rows, cols, c] over the window's cells inside x, / count[i, j].

    y: (N, H_out, W_out, C);  x: (N, H, W, C);  count: (H_out, W_out) in x's dtype.
    The cells of window (i, j) inside x are rows [row_lo, row_hi) by columns [col_lo, col_hi).
    prange over the output rows r = n*H_out + i, each written by one iteration; the channel
    loop is innermost and vectorises.
    """
    n_batch, out_h, out_w, channels = y.shape
    h, w = x.shape[1], x.shape[2]
    for r in prange(n_batch * out_h):
        n = r // out_h
        i = r - n * out_h
        row0 = i * stride_h - pad_top
        row_lo, row_hi = max(row0, 0), min(row0 + pool_h, h)
        for j in range(out_w):
            col0 = j * stride_w - pad_left
            col_lo, col_hi = max(col0, 0), min(col0 + pool_w, w)
            total = y[n, i, j]  # (C,) view, the running sum
            for c in range(channels):
                total[c] = 0
            for row in range(row_lo, row_hi):
                for col in range(col_lo, col_hi):
                    pixel = x[n, row, col]  # (C,)
                    for c in range(channels):
                        total[c] += pixel[c]
            for c in range(channels):
                total[c] = total[c] / count[i, j]


@kernel
def average_pool2d_backward_kernel(dx, dy, count, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left):
    """dx[n, row, col, c] = sum over the windows (i, j) holding (row, col) of dy[n, i, j, c] / count[i, j].

    dx: (N, H, W, C);  dy: (N, H_out, W_out, C);  count: (H_out, W_out) in dy's dtype.
    Gathered, not scattered: each input row asks which windows hold it instead of each window
    adding into its cells, so every dx value is written by one iteration and the prange over
    the input rows r = n*H + row needs no zero fill and no shared sums. Window i holds row
    `row` when i*stride_h - pad_top <= row < i*stride_h - pad_top + pool_h, i.e. for i from
    ceil((row + pad_top - pool_h + 1) / stride_h) to floor((row + pad_top) / stride_h); the same
    along the columns. A cell that no window holds (stride > pool) gets 0.
    """
    n_batch, h, w, channels = dx.shape
    out_h, out_w = dy.shape[1], dy.shape[2]
    for r in prange(n_batch * h):
        n = r // h
        row = r - n * h
        i_lo = max(-((pool_h - 1 - row - pad_top) // stride_h), 0)  # ceil((row + pad_top - pool_h + 1) / stride_h)
        i_hi = min((row + pad_top) // stride_h, out_h - 1)
        for col in range(w):
            j_lo = max(-((pool_w - 1 - col - pad_left) // stride_w), 0)
            j_hi = min((col + pad_left) // stride_w, out_w - 1)
            target = dx[n, row, col]  # (C,) view
            for c in range(channels):
                target[c] = 0
            for i in range(i_lo, i_hi + 1):
                for j in range(j_lo, j_hi + 1):
                    window, cells = dy[n, i, j], count[i, j]  # (C,), and the window's real cells
                    for c in range(channels):
                        target[c] += window[c] / cells


# --------------------------------------------------------------------------- public functions


def average_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling of an NHWC batch, as ``tf.nn.avg_pool2d`` (padding not averaged in).

    x: (N, H, W, C) float32 or float64 -> y: (N, H_out, W_out, C), same dtype; strides None = pool_size.
    """
    x = check_array(x, "x", 4)
    (ph, pw), (sh, sw), (out_h, top), (out_w, left) = check_pool_args(x.shape, pool_size, strides, padding)
    y = np.empty((x.shape[0], out_h, out_w, x.shape[3]), dtype=x.dtype)  # (N, H_out, W_out, C)
    count = window_counts(x.shape[1], x.shape[2], out_h, out_w, ph, pw, sh, sw, top, left, x.dtype)  # (H_out, W_out)
    average_pool2d_kernel(y, np.ascontiguousarray(x), count, ph, pw, sh, sw, top, left)
    return y


def average_pool2d_backward(dy, input_shape, pool_size=2, strides=None, padding="valid"):
    """dx (input_shape (N, H, W, C), dy's dtype) of average_pool2d for dy (N, H_out, W_out, C)."""
    input_shape = _check_input_shape(input_shape)
    (ph, pw), (sh, sw), (out_h, top), (out_w, left) = check_pool_args(input_shape, pool_size, strides, padding)
    dy = check_grad(dy, "dy", (input_shape[0], out_h, out_w, input_shape[3]), None)
    dx = np.empty(input_shape, dtype=dy.dtype)  # (N, H, W, C), every value written by the kernel
    count = window_counts(*input_shape[1:3], out_h, out_w, ph, pw, sh, sw, top, left, dy.dtype)  # (H_out, W_out)
    average_pool2d_backward_kernel(dx, np.ascontiguousarray(dy), count, ph, pw, sh, sw, top, left)
    return dx
