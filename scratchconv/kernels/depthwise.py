"""Depthwise convolution, forward and backward: the loop-by-loop version and the Numba one.

Start from the loop twins below, ``depthwise_conv2d_naive`` and
``depthwise_conv2d_backward_naive``: the formulas, written as loops. Each input channel is
convolved with its own M filters (M = depth multiplier); channels never mix. With x
(N, H, W, C), depthwise_kernel k (kh, kw, C, M) and bias (C*M,):

    y[n, oy, ox, c*M + m] = bias[c*M + m]
        + sum_{i, j} xp[n, oy*sh + i*dh, ox*sw + j*dw, c] * k[i, j, c, m]

where xp is x zero-padded ('same': odd pixel at the bottom/right, as in Keras). y is
(N, H_out, W_out, C*M). Backward, for the upstream gradient dy (N, H_out, W_out, C*M):

    dbias[c*M + m] = sum_{n, oy, ox} dy[n, oy, ox, c*M + m]
    dk[i, j, c, m] = sum_{n, oy, ox} dy[n, oy, ox, c*M + m] * xp[n, oy*sh + i*dh, ox*sw + j*dw, c]
    dxp[n, oy*sh + i*dh, ox*sw + j*dw, c] += dy[n, oy, ox, c*M + m] * k[i, j, c, m]

and dx is the interior of dxp. Unequal row/column strides, and strides > 1 with
dilation > 1, are computed (TensorFlow's kernel refuses the first; the math is sound).

Padding and non-finite values: the loop versions multiply the padding zeros, as written
above (as TensorFlow's float64 kernels do); the fast functions give what skipping the padding
taps gives (as TensorFlow's float32 kernels do). The two differ only when the kernel or dy holds
Inf/NaN (0*Inf = NaN at the border in the loop version); Inf/NaN in x propagate alike in all.

Which fast kernel a call reaches, and why (``_depthwise_forward``, ``_depthwise_backward``
choose). First M becomes 1: the channels are repeated, x_rep[..., c*M + m] = x[..., c] (a copy
only for M > 1), and the kernel is viewed as (kh, kw, Q), Q = C*M. Then:

- forward, column stride 1, finite kernel (the common case): ``_depthwise_rows_kernel``, whole
  output rows as sums of shifted input rows (vectorised). It multiplies padding zeros: exact
  only for a finite kernel.
- forward, otherwise: ``_depthwise_forward_kernel``, a pixel at a time, padding taps skipped.
- backward, stride 1, three kernel rows, no row dilation, finite kernel (the usual 3x3 layer):
  ``_depthwise_backward_rows3_kernel``, dx, dk and dbias in one pass. Its dk multiplies dy by
  padding zeros, so with Inf/NaN in dy, dk and dbias are redone by the next item's kernel.
- backward, other stride-1 cases, finite kernel: dx is dy correlated with the flipped kernel,
  the forward's ``_depthwise_rows_kernel``; dk, dbias by ``_depthwise_kernel_grad_rows_kernel``.
- backward, otherwise: ``_depthwise_backward_kernel``, a pixel at a time, any strides.

The backward's kernels are in ``depthwise_backward.py``. Each kernel's docstring says why it is
shaped as it is; the timings behind the choices are in docs/performance.md.
"""

import numba
import numpy as np

from . import activations
from .arguments import as_pair, check_array, check_bias, check_grad, check_padding, conv_geometry, crop_padding, pad_input
from .depthwise_backward import (
    _depthwise_backward_kernel,
    _depthwise_backward_rows3_kernel,
    _depthwise_kernel_grad_rows_kernel,
)
from .numba_config import kernel, prange


def check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate):
    """Checked (x, depthwise_kernel, bias, g), g the window Geometry; raises before any kernel runs."""
    x = check_array(x, "x", 4)  # (N, H, W, C)
    depthwise_kernel = check_array(depthwise_kernel, "depthwise_kernel", 4, x.dtype)  # (kh, kw, C, M)
    kh, kw, c, m = depthwise_kernel.shape
    if x.shape[3] < 1:
        raise ValueError(f"x must have at least one channel, got shape {x.shape}")
    if c != x.shape[3] or min(kh, kw, m) < 1:
        raise ValueError(
            f"depthwise_kernel must have shape (kh, kw, C, M) with kh, kw, M >= 1 and "
            f"C = x.shape[3] = {x.shape[3]}, got {depthwise_kernel.shape}"
        )
    bias = check_bias(bias, c * m, x.dtype)  # (C*M,)
    strides = as_pair(strides, "strides")
    dilation_rate = as_pair(dilation_rate, "dilation_rate")
    padding = check_padding(padding)
    g = conv_geometry(x.shape, (kh, kw), strides, padding, dilation_rate)
    return x, depthwise_kernel, bias, g


# --------------------------------------------------------------------------- forward


def depthwise_conv2d_naive(x, depthwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1):
    """Depthwise convolution, one output value at a time.

    Parameters
    ----------
    x : (N, H, W, C) float32 or float64
    depthwise_kernel : (kh, kw, C, M), same dtype
    bias : (C*M,) or None
    strides, dilation_rate : int or (rows, cols)
    padding : 'valid' or 'same'

    Returns
    -------
    y : (N, H_out, W_out, C*M), with
        y[n, oy, ox, c*M + m] = bias[c*M + m]
            + sum_{i, j} xp[n, oy*sh + i*dh, ox*sw + j*dw, c] * depthwise_kernel[i, j, c, m]
    """
    x, k, bias, g = check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate)
    kh, kw, channels, multiplier = k.shape
    xp = pad_input(x, g)  # (N, H_pad, W_pad, C)
    y = np.zeros((g.n, g.out_h, g.out_w, channels * multiplier), dtype=x.dtype)  # (N, H_out, W_out, C*M)
    for n in range(g.n):
        for oy in range(g.out_h):
            for ox in range(g.out_w):
                # The window under output pixel (oy, ox): kh x kw input pixels, dilation apart.
                rows = slice(oy * g.sh, oy * g.sh + (kh - 1) * g.dh + 1, g.dh)
                cols = slice(ox * g.sw, ox * g.sw + (kw - 1) * g.dw + 1, g.dw)
                for c in range(channels):
                    window = xp[n, rows, cols, c]  # (kh, kw)
                    for m in range(multiplier):
                        out = c * multiplier + m
                        y[n, oy, ox, out] = np.sum(window * k[:, :, c, m])
                        if bias is not None:
                            y[n, oy, ox, out] += bias[out]
    return y


@kernel
def _depthwise_forward_kernel(y, x, k, bias, sh, sw, dh, dw, pad_top, pad_left):
    """Any strides, any kernel: y[n, oy, ox, q] = bias[q] + sum_{i, j} x[n, iy, ix, q] * k[i, j, q],
    iy = oy*sh + i*dh - pad_top, ix = ox*sw + j*dw - pad_left, taps outside the image skipped.

    y (N, H_out, W_out, Q) is written; x (N, H, W, Q) unpadded, channels repeated M times
    (Q = C*M); k (kh, kw, Q); bias (Q,) (zeros without a bias). The general path (column
    stride > 1, or Inf/NaN in k): prange over the N*H_out output rows (each owned by one
    iteration); innermost loop over the contiguous channels, vectorised when Q is large enough.
    """
    n_batch, out_h, out_w, channels = y.shape
    height, width = x.shape[1], x.shape[2]
    kh, kw = k.shape[0], k.shape[1]
    for row in prange(n_batch * out_h):
        n = row // out_h
        oy = row % out_h
        for ox in range(out_w):
            for q in range(channels):
                y[n, oy, ox, q] = bias[q]
        for i in range(kh):
            iy = oy * sh + i * dh - pad_top
            if iy < 0 or iy >= height:
                continue
            for ox in range(out_w):
                for j in range(kw):
                    ix = ox * sw + j * dw - pad_left
                    if ix >= 0 and ix < width:
                        for q in range(channels):
                            y[n, oy, ox, q] += x[n, iy, ix, q] * k[i, j, q]


@kernel
def _depthwise_rows_kernel(y, x, k_tiled, bias, sh, dh, dw, pad_top, pad_left, n_chunks):
    """Column stride 1, finite kernel: _depthwise_forward_kernel's sum, a whole output row at a time.

    y (N, H_out, W_out, Q) is written; x (N, H, W, Q); k_tiled (kh, kw, W_out*Q) the kernel
    repeated along the output row, k_tiled[i, j, ox*Q + q] = k[i, j, q]; bias (Q,). prange over
    n_chunks runs of consecutive output rows (one per thread: each owns its rows of y and its
    ring). Also gives the backward's dx (dy correlated with the flipped kernel).

    Flat rows, tiled kernel: at column stride 1, output pixel ox+1 reads the input pixel right of
    the one ox reads, so for tap (i, j) the whole output row (one flat vector of W_out*Q values)
    takes the padded input row iy from pixel j*dw on, times k_tiled[i, j] (W = 4, kw = 3, 'same';
    each entry is Q values)::

        padded input row iy (a ring row)   0  x0  x1  x2  x3  0
        y_row                             y0  y1  y2  y3
                                      +=   0  x0  x1  x2   * k_tiled[i, 0]    tap j = 0
                                      +=  x0  x1  x2  x3   * k_tiled[i, 1]    tap j = 1
                                      +=  x1  x2  x3   0   * k_tiled[i, 2]    tap j = 2

    One long unit-stride loop per tap vectorises; a loop over each pixel's Q channels would pay
    its set-up every Q values (and not vectorise at all for small Q).

    The ring of padded rows: each thread copies each input row it needs once into a ring of S =
    (kh - 1)*dh + 1 zero-padded rows (the span of one output row), so that every tap is a plain
    shifted read, no bounds tests (kernel rows above or below the image are skipped; the zeros
    beside it are multiplied: 0*k = 0 for a finite k). Row iy goes to slot iy % S; ``held`` says
    which row a slot holds, so the next output row reuses the rows it shares (3x3, stride 1)::

        output row 5 reads input rows 4, 5, 6 (pad_top = 1):  slot 0: row 6, 1: row 4, 2: row 5
        output row 6 reads rows 5, 6, 7: row 7 is copied into slot 1, over row 4; 5, 6 stay

    Three taps per pass, unrolled (y_row += x0*k0 + x1*k1 + x2*k2): y_row is loaded and stored
    once per three taps instead of once per tap, and a 3-wide kernel row (the common case) is
    one pass; other widths end with single taps. (Nine taps per pass, a helper function for
    the copy, and border code instead of the ring were all slower: docs/performance.md.)
    Slices, not offset indices (x_row[t + shift]): Numba wraps negative indices, and an index
    it cannot prove non-negative blocks vectorisation.
    """
    n_batch, out_h, out_w, channels = y.shape
    height, width = x.shape[1], x.shape[2]
    kh, kw = k_tiled.shape[0], k_tiled.shape[1]
    row_len = out_w * channels
    padded_len = (out_w + (kw - 1) * dw) * channels  # the padded input pixels one output row reads
    copied = min(width * channels, padded_len - pad_left * channels)  # values of x copied per row
    ring_rows = (kh - 1) * dh + 1  # S: the input rows one output row spans (kernel rows, dilated)
    n_rows = n_batch * out_h
    for chunk in prange(n_chunks):
        # The last S input rows this thread used, zero-padded; held[s] = n*H + iy of the row in slot s.
        ring = np.zeros((ring_rows, padded_len), dtype=y.dtype)  # (S, W_pad*Q)
        held = np.full(ring_rows, -1, dtype=np.int64)  # (S,)
        for row in range(chunk * n_rows // n_chunks, (chunk + 1) * n_rows // n_chunks):
            n = row // out_h
            oy = row % out_h
            y_row = y[n, oy].reshape(row_len)  # (W_out*Q,)
            for ox in range(out_w):
                for q in range(channels):
                    y_row[ox * channels + q] = bias[q]
            for i in range(kh):
                iy = oy * sh + i * dh - pad_top
                if iy < 0 or iy >= height:
                    continue
                slot = iy % ring_rows  # ring slot of input row iy
                if held[slot] != n * height + iy:  # not there yet: copy it in after pad_left zero pixels
                    source = x[n, iy].reshape(width * channels)[:copied]  # (W*Q,)
                    target = ring[slot, pad_left * channels : pad_left * channels + copied]
                    for t in range(copied):
                        target[t] = source[t]
                    held[slot] = n * height + iy
                x_row = ring[slot]  # (W_pad*Q,) input row iy, zero-padded
                j = 0
                while j < kw:
                    s0 = j * dw * channels  # tap j of pixel ox reads padded pixel ox + j*dw
                    x0, k0 = x_row[s0 : s0 + row_len], k_tiled[i, j]
                    if j + 3 <= kw:  # three taps left: one pass for taps j, j+1, j+2
                        s1, s2 = s0 + dw * channels, s0 + 2 * dw * channels
                        x1, k1 = x_row[s1 : s1 + row_len], k_tiled[i, j + 1]
                        x2, k2 = x_row[s2 : s2 + row_len], k_tiled[i, j + 2]
                        for t in range(row_len):
                            y_row[t] += x0[t] * k0[t] + x1[t] * k1[t] + x2[t] * k2[t]
                        j += 3
                    else:  # the last one or two taps of a row, one at a time
                        for t in range(row_len):
                            y_row[t] += x0[t] * k0[t]
                        j += 1


def _repeat_channels(x, multiplier):
    """x with each channel repeated M times, C-contiguous: x_rep[..., c*M + m] = x[..., c]."""
    if multiplier == 1:
        return np.ascontiguousarray(x)  # (N, H, W, C)
    return np.repeat(x, multiplier, axis=3)  # (N, H, W, C*M)


def _tile_along_row(k_flat, row_pixels):
    """k_tiled[i, j, p*Q + q] = k_flat[i, j, q] for p < row_pixels. (kh, kw, row_pixels*Q)"""
    kh, kw, q = k_flat.shape
    return np.ascontiguousarray(np.broadcast_to(k_flat[:, :, None, :], (kh, kw, row_pixels, q))).reshape(kh, kw, -1)


def _n_chunks(rows):
    """How many runs of rows to split a kernel's work into: one per Numba thread."""
    return max(1, min(numba.get_num_threads(), rows))


def _depthwise_forward(x, k, bias, g):
    """The fast forward on checked arguments. y (N, H_out, W_out, C*M)."""
    kh, kw, channels, multiplier = k.shape
    q = channels * multiplier
    y = np.empty((g.n, g.out_h, g.out_w, q), dtype=x.dtype)  # (N, H_out, W_out, C*M)
    if y.size == 0:
        return y
    x_rep = _repeat_channels(x, multiplier)  # (N, H, W, C*M)
    k_flat = np.ascontiguousarray(k).reshape(kh, kw, q)  # (kh, kw, C*M)
    b = np.zeros(q, dtype=x.dtype) if bias is None else np.ascontiguousarray(bias)  # (C*M,)
    if g.sw == 1 and np.isfinite(k_flat).all():
        k_tiled = _tile_along_row(k_flat, g.out_w)  # (kh, kw, W_out*C*M)
        rows = _n_chunks(g.n * g.out_h)
        _depthwise_rows_kernel(y, x_rep, k_tiled, b, g.sh, g.dh, g.dw, g.pad_top, g.pad_left, rows)
    else:
        _depthwise_forward_kernel(y, x_rep, k_flat, b, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left)
    return y


def depthwise_conv2d(x, depthwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1):
    """Depthwise convolution (fast Numba version); same arguments and result as depthwise_conv2d_naive.

    x (N, H, W, C), depthwise_kernel (kh, kw, C, M), bias (C*M,) or None -> y (N, H_out, W_out, C*M).
    """
    x, k, bias, g = check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate)
    return _depthwise_forward(x, k, bias, g)


# --------------------------------------------------------------------------- backward


def depthwise_conv2d_backward_naive(dy, x, depthwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1):
    """Gradients of depthwise_conv2d, one output value at a time.

    Parameters
    ----------
    dy : (N, H_out, W_out, C*M), the gradient of the loss with respect to y
    x, depthwise_kernel, bias, strides, padding, dilation_rate : as in the forward

    Returns
    -------
    dx : (N, H, W, C)
    ddepthwise_kernel : (kh, kw, C, M)
    dbias : (C*M,), or None when bias is None

    Every output value y[n, oy, ox, c*M + m] = sum_{i, j} window[i, j] * k[i, j, c, m] sends
    its gradient grad = dy[n, oy, ox, c*M + m] back to the window (grad * k[:, :, c, m]), to
    the kernel (grad * window) and to the bias (grad).
    """
    x, k, bias, g = check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate)
    kh, kw, channels, multiplier = k.shape
    dy = check_grad(dy, "dy", (g.n, g.out_h, g.out_w, channels * multiplier), x.dtype)
    xp = pad_input(x, g)  # (N, H_pad, W_pad, C)
    dxp = np.zeros(xp.shape, dtype=x.dtype)  # (N, H_pad, W_pad, C)
    dk = np.zeros(k.shape, dtype=x.dtype)  # (kh, kw, C, M)
    dbias = None if bias is None else np.zeros(bias.shape, dtype=x.dtype)  # (C*M,)
    for n in range(g.n):
        for oy in range(g.out_h):
            for ox in range(g.out_w):
                rows = slice(oy * g.sh, oy * g.sh + (kh - 1) * g.dh + 1, g.dh)
                cols = slice(ox * g.sw, ox * g.sw + (kw - 1) * g.dw + 1, g.dw)
                for c in range(channels):
                    window = xp[n, rows, cols, c]  # (kh, kw)
                    for m in range(multiplier):
                        grad = dy[n, oy, ox, c * multiplier + m]
                        dxp[n, rows, cols, c] += grad * k[:, :, c, m]
                        dk[:, :, c, m] += grad * window
                        if dbias is not None:
                            dbias[c * multiplier + m] += grad
    dx = np.ascontiguousarray(crop_padding(dxp, g))  # (N, H, W, C)
    return dx, dk, dbias


def _depthwise_backward(dy, x, k, with_bias, g, activation=None):
    """The fast backward on checked arguments. (dx, dk, dbias or None).

    activation ('relu' or 'selu'): x is activation(z + b) of the layer before, and the result is
    (dz, dk, dbias or None, db) with that layer's dz = dx * activation'(x) and db its sums: in
    the fused 3x3 kernel while each dx row is in cache (depth multiplier 1), else afterwards.
    """
    kh, kw, channels, multiplier = k.shape
    q = channels * multiplier
    x_rep = _repeat_channels(x, multiplier)  # (N, H, W, C*M)
    dy = np.ascontiguousarray(dy)  # (N, H_out, W_out, C*M)
    activated = None  # (dz, db) of the layer before, when the fused kernel computes them
    k_flat = np.ascontiguousarray(k).reshape(kh, kw, q)  # (kh, kw, C*M)
    if g.n == 0:
        dx_rep = np.zeros(x_rep.shape, dtype=x.dtype)  # (0, H, W, C*M)
        dk, db = np.zeros(k_flat.shape, dtype=x.dtype), np.zeros(q, dtype=x.dtype)  # (kh, kw, C*M), (C*M,)
    elif g.sh == 1 and g.sw == 1 and np.isfinite(k_flat).all():
        # dx is a stride-1 correlation of dy with the kernel flipped in both axes ("full"
        # correlation: dy padded by the kernel's span minus the forward's padding).
        dx_rep = np.empty(x_rep.shape, dtype=x.dtype)  # (N, H, W, C*M)
        k_flipped = _tile_along_row(k_flat[::-1, ::-1], g.w)  # (kh, kw, W*C*M)
        fused = g.dh == 1 and kh == 3  # what _depthwise_backward_rows3_kernel is written for
        if fused:  # dx, dk and dbias in one pass, dx rows two at a time
            chunks = _n_chunks(g.n * ((g.h + 1) // 2))  # over the (N * ceil(H/2)) pairs of dx rows
            dk_tiled = np.zeros((chunks, kh, kw, g.out_w * q), dtype=x.dtype)  # (T, 3, kw, W_out*C*M)
            db_tiled = np.zeros((chunks, g.out_w * q), dtype=x.dtype)  # (T, W_out*C*M)
            act, *constants = activations.derivative_args(activation if multiplier == 1 else None, x.dtype)
            dbx_tiled = np.zeros((chunks, g.w * q if act else 1), dtype=x.dtype)  # (T, W*C) with act
            _depthwise_backward_rows3_kernel(dx_rep, dk_tiled, db_tiled, dy, x_rep, k_flipped, g.pad_top, g.dw,
                                             g.pad_left, act, *constants, dbx_tiled)
            if act:
                activated = dx_rep, dbx_tiled.reshape(-1, channels).sum(axis=0, dtype=np.float64).astype(x.dtype)
            # A non-finite dy met the zero padding there (Inf*0 = NaN): redo dk and dbias below,
            # skipping the padded taps. A non-finite dy value leaves its partial dbias non-finite.
            fused = bool(np.isfinite(db_tiled).all())
        else:  # dx with the forward's row kernel
            # dy's padding for the full correlation: the kernel's span (kernel size - 1, dilated)
            # minus the forward's padding on that side.
            dy_pad_top, dy_pad_left = (kh - 1) * g.dh - g.pad_top, (kw - 1) * g.dw - g.pad_left
            zeros = np.zeros(q, dtype=x.dtype)  # (C*M,)
            _depthwise_rows_kernel(dx_rep, dy, k_flipped, zeros, 1, g.dh, g.dw, dy_pad_top, dy_pad_left, _n_chunks(g.n * g.h))
        if not fused:
            chunks = _n_chunks(g.n * g.out_h)
            dk_tiled = np.zeros((chunks, kh, kw, g.out_w * q), dtype=x.dtype)  # (T, kh, kw, W_out*C*M)
            db_tiled = np.zeros((chunks, g.out_w * q), dtype=x.dtype)  # (T, W_out*C*M)
            _depthwise_kernel_grad_rows_kernel(dk_tiled, db_tiled, dy, x_rep, g.sh, g.dh, g.dw, g.pad_top, g.pad_left)
        dk = dk_tiled.reshape(chunks, kh, kw, g.out_w, q).sum(axis=(0, 3))  # (kh, kw, C*M)
        db = db_tiled.reshape(chunks, g.out_w, q).sum(axis=(0, 1))  # (C*M,)
    else:
        dx_rep = np.zeros(x_rep.shape, dtype=x.dtype)  # (N, H, W, C*M)
        dk_per_image = np.zeros((g.n, kh, kw, q), dtype=x.dtype)  # (N, kh, kw, C*M)
        db_per_image = np.zeros((g.n, q), dtype=x.dtype)  # (N, C*M)
        _depthwise_backward_kernel(
            dx_rep, dk_per_image, db_per_image, dy, x_rep, k_flat, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left
        )
        dk, db = dk_per_image.sum(axis=0), db_per_image.sum(axis=0)  # (kh, kw, C*M), (C*M,)
    if multiplier > 1:
        dx_rep = dx_rep.reshape(g.n, g.h, g.w, channels, multiplier).sum(axis=4)  # (N, H, W, C)
    if activation is None:
        return dx_rep, dk.reshape(k.shape), (db if with_bias else None)
    if activated is None:  # the kernel above did not take the activation: its own pass
        activated = activations.backward_with_bias(dx_rep, x, activation)
    return activated[0], dk.reshape(k.shape), (db if with_bias else None), activated[1]


def depthwise_conv2d_backward(dy, x, depthwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1):
    """Gradients of depthwise_conv2d (fast Numba version); same as depthwise_conv2d_backward_naive.

    dy (N, H_out, W_out, C*M), x (N, H, W, C), depthwise_kernel (kh, kw, C, M), bias (C*M,) or None
    -> (dx (N, H, W, C), ddepthwise_kernel (kh, kw, C, M), dbias (C*M,) or None).
    """
    x, k, bias, g = check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate)
    dy = check_grad(dy, "dy", (g.n, g.out_h, g.out_w, k.shape[2] * k.shape[3]), x.dtype)
    return _depthwise_backward(dy, x, k, bias is not None, g)
