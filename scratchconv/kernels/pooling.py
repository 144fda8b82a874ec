"""Max pooling, forward and backward, as TensorFlow computes it (``tf.nn.max_pool2d`` and MaxPoolGrad).

The corner cases follow TensorFlow exactly:

- the running maximum starts at the dtype's lowest finite value and is replaced only by a
  strictly larger value, so NaN never wins (a window of NaNs gives -3.4e38 in float32, as
  TensorFlow's CPU kernel does) and a tie goes to the first position in row-major order;
- the gradient of each output goes to that one position (TensorFlow's MaxPoolGrad, as run
  inside ``tf.function``, i.e. by ``model.fit``), and overlapping windows add up.
"""

import numpy as np

from . import activations
from .arguments import check_array, check_padding, keras_pair
from .numba_config import kernel, prange

# --------------------------------------------------------------------------- max pooling kernels


def pool_geometry(size, pool, stride, padding):
    """(out, pad_before) along one axis, as TensorFlow's pooling: 'valid' ceil((in - pool + 1) / s),
    'same' ceil(in / s) with the odd padding pixel at the bottom/right (padded cells never win)."""
    if padding == "valid":
        return -(-(size - pool + 1) // stride), 0
    out = -(-size // stride)
    return out, max((out - 1) * stride + pool - size, 0) // 2


@kernel
def max_pool2d_kernel(y, winner, x, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left, lowest):
    """y[n, i, j, c] = max of x[n, rows, cols, c] over the window; winner = the winning cell's
    place in its window, di * pool_w + dj.

    y, winner: (N, H_out, W_out, C);  x: (N, H, W, C);  lowest: the dtype's lowest finite value.

    The winner index: the cells of a window are numbered row by row, and winner keeps the
    number of the cell the maximum came from, one small int per output value. The backward
    then sends dy straight to that cell, without searching the window or comparing values
    again (2x2 window, one channel; a tie goes to the lower number)::

        cell numbers     values       y    winner
          0  1            3  7        7    1        (cell 2's 7 is not strictly larger)
          2  3            7  1

    prange over the output rows r = n*H_out + i; the channel loops are branch-free (selects),
    so they vectorise.
    """
    n_batch, out_h, out_w, channels = y.shape
    h, w = x.shape[1], x.shape[2]
    for r in prange(n_batch * out_h):
        n = r // out_h
        i = r - n * out_h
        row0 = i * stride_h - pad_top
        for j in range(out_w):
            col0 = j * stride_w - pad_left
            best, win = y[n, i, j], winner[n, i, j]  # (C,) views
            first = (max(row0, 0) - row0) * pool_w + max(col0, 0) - col0  # the first cell inside x
            for c in range(channels):
                best[c] = lowest  # the gradient goes to `first` if nothing beats `lowest`
                win[c] = first
            for di in range(pool_h):
                row = row0 + di
                if row < 0 or row >= h:
                    continue
                for dj in range(pool_w):
                    col = col0 + dj
                    if col < 0 or col >= w:
                        continue
                    cell, pixel = di * pool_w + dj, x[n, row, col]
                    for c in range(channels):
                        larger = pixel[c] > best[c]  # strictly: the first maximum wins, NaN never does
                        best[c] = pixel[c] if larger else best[c]
                        win[c] = cell if larger else win[c]


@kernel
def max_pool2d_backward_kernel(dx, sums, dy, winner, y, pool_h, pool_w, stride_h, stride_w, pad_top, pad_left,
                               overlap, act, scale, scale_alpha, zero):
    """dx[n, row, col, c] (+)= dy[n, i, j, c] for the window cell (row, col) that won, 0 for the others:
    cell (di, dj) of the window at (i, j) gets dy when di * pool_w + dj == winner[n, i, j, c].

    dx: (N, H, W, C);  dy, winner: (N, H_out, W_out, C);  zero: 0 in dx's dtype.
    Windows that do not overlap (stride >= pool) each write their own cells: prange over the
    output rows, no division, no zero-filling pass (the caller zero-fills dx only where some
    cell lies in no window). Overlapping windows add up (overlap=True, dx zero on entry):
    prange over n, as image n's windows touch only dx[n].

    act = 1 (relu) or 2 (selu), windows that do not overlap only: y (N, H, W, C) is the pool's
    input, the output of the layer before, activation(z + bias); dx is then that layer's
    dz = dx * act'(y) (act' from y, as in activations._backward_bias_kernel), and sums
    (N*H_out, C) gets each row of windows' sum of dz (that layer's dbias: their sum).
    act = 0: y is not read and sums not filled (sums: any (N*H_out, .) array).
    """
    n_batch, out_h, out_w, channels = dy.shape
    h, w = dx.shape[1], dx.shape[2]
    # Plain arithmetic, no conditional expressions, inside the prange loop: Numba parallelises
    # it only then (a prange over `n if overlap else n * out_h` ran serially).
    per_image = 1 if overlap else out_h  # iterations per image
    rows_each = out_h if overlap else 1  # output rows per iteration
    for r in prange(n_batch * per_image):
        n = r // per_image
        first_i = r - n * per_image  # 0 with overlap
        total = sums[r]  # (C,), only used with act
        if act:
            for c in range(channels):
                total[c] = zero
        for i in range(first_i, first_i + rows_each):
            row0 = i * stride_h - pad_top
            for j in range(out_w):
                col0 = j * stride_w - pad_left
                dy_pixel, win = dy[n, i, j], winner[n, i, j]  # (C,) views
                for di in range(pool_h):
                    row = row0 + di
                    if row < 0 or row >= h:
                        continue
                    for dj in range(pool_w):
                        col = col0 + dj
                        if col < 0 or col >= w:
                            continue
                        cell, target = di * pool_w + dj, dx[n, row, col]
                        if overlap:
                            for c in range(channels):
                                target[c] += dy_pixel[c] if win[c] == cell else zero
                        elif act == 0:
                            for c in range(channels):
                                target[c] = dy_pixel[c] if win[c] == cell else zero
                        else:  # dx of this cell, then through act' of the layer before: its dz
                            out = y[n, row, col]
                            for c in range(channels):
                                grad = dy_pixel[c] if win[c] == cell else zero
                                if act == 2:
                                    grad = grad * (out[c] + scale_alpha if out[c] < zero else scale)
                                else:
                                    grad = grad if out[c] > zero else zero
                                target[c] = grad
                                total[c] += grad


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling of an NHWC batch, as ``tf.nn.max_pool2d``.

    x: (N, H, W, C) -> (y, winners): y (N, H_out, W_out, C) and what ``max_pool2d_backward``
    needs: (winner, the window geometry), winner (N, H_out, W_out, C) int32 holding each
    window's winning cell as di * pool_w + dj.
    """
    x = check_array(x, "x", 4)
    (ph, pw) = keras_pair(pool_size, "pool_size")
    (sh, sw) = (ph, pw) if strides is None else keras_pair(strides, "strides")
    padding = check_padding(padding)
    n, h, w, c = x.shape
    out_h, top = pool_geometry(h, ph, sh, padding)
    out_w, left = pool_geometry(w, pw, sw, padding)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"max pooling a {h}x{w} input with pool_size {(ph, pw)} and padding='{padding}' "
                         f"leaves no output")
    y = np.empty((n, out_h, out_w, c), dtype=x.dtype)  # (N, H_out, W_out, C)
    winner = np.empty((n, out_h, out_w, c), dtype=np.int32)  # (N, H_out, W_out, C)
    lowest = x.dtype.type(np.finfo(x.dtype).min)
    max_pool2d_kernel(y, winner, np.ascontiguousarray(x), ph, pw, sh, sw, top, left, lowest)
    return y, (winner, (ph, pw), (sh, sw), (top, left))


def _tiles(size, out, pool, stride, pad_before):
    """True when the windows along this axis cover each input cell exactly once."""
    return stride == pool and (out - 1) * stride - pad_before + pool >= size


def max_pool2d_backward(dy, winners, input_shape):
    """dx (input_shape) with each dy routed to its window's winner (overlaps add up)."""
    return _pool_backward(dy, winners, input_shape)[0]


def max_pool2d_backward_with_activation(dy, winners, y, name):
    """(dz, dbias) = the backward of max pooling, then of activation name (relu or selu) applied
    to y, the pool's input (N, H, W, C), and the bias sum, in one pass: what
    ``activations.backward_with_bias(max_pool2d_backward(dy, winners, y.shape), y, name)`` gives
    with one write of dz instead of three passes. For windows that do not overlap only (else None).
    """
    winner, (ph, pw), (sh, sw), _ = winners
    if sh < ph or sw < pw or name not in activations.WITH_BIAS or y.dtype not in (np.float32, np.float64):
        return None
    dz, sums = _pool_backward(np.asarray(dy, dtype=y.dtype), winners, y.shape, name, y)
    return dz, sums.sum(axis=0, dtype=np.float64).astype(y.dtype)  # the short row sums, added up in float64


def _pool_backward(dy, winners, input_shape, activation=None, y=None):
    """max_pool2d_backward_kernel on dy (N, H_out, W_out, C): (dx or dz (input_shape), sums).

    sums (N*H_out, C) holds each row of windows' sum of dz when activation is relu or selu;
    dx is zero-filled first only where some cell lies in no window (or windows overlap).
    """
    winner, (ph, pw), (sh, sw), (top, left) = winners
    n, h, w, c = input_shape
    out_h, out_w = winner.shape[1:3]
    overlap = sh < ph or sw < pw
    tiled = _tiles(h, out_h, ph, sh, top) and _tiles(w, out_w, pw, sw, left)
    dx = np.empty(input_shape, dtype=dy.dtype) if tiled else np.zeros(input_shape, dtype=dy.dtype)  # (N, H, W, C)
    act, *constants = activations.derivative_args(activation, dy.dtype)
    sums = np.empty((n * (1 if overlap else out_h), c if act else 1), dtype=dy.dtype)  # not filled with act=0
    max_pool2d_backward_kernel(dx, sums, np.ascontiguousarray(dy), winner, dx if y is None else np.ascontiguousarray(y),
                               ph, pw, sh, sw, top, left, overlap, act, *constants)
    return dx, sums
