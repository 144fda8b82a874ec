"""Depthwise convolution, forward and backward: the loop-by-loop version and the Numba one.

Each input channel is convolved with its own M filters (M = depth multiplier); channels
never mix. With x (N, H, W, C), depthwise_kernel (kh, kw, C, M), bias (C*M,):

    y[n, oy, ox, c*M + m] = bias[c*M + m]
        + sum_{i, j} xp[n, oy*sh + i*dh, ox*sw + j*dw, c] * depthwise_kernel[i, j, c, m]

where xp is x zero-padded ('same': odd pixel at the bottom/right, as in Keras). The output
is (N, H_out, W_out, C*M). Backward, for the upstream gradient dy (N, H_out, W_out, C*M):

    dbias[c*M + m]                = sum_{n, oy, ox} dy[n, oy, ox, c*M + m]
    ddepthwise_kernel[i, j, c, m] = sum_{n, oy, ox} dy[n, oy, ox, c*M + m] * xp[n, oy*sh + i*dh, ox*sw + j*dw, c]
    dxp[n, oy*sh + i*dh, ox*sw + j*dw, c] += dy[n, oy, ox, c*M + m] * depthwise_kernel[i, j, c, m]

and dx is the interior of dxp. Unequal row/column strides and strides > 1 together with
dilation > 1 are computed (TensorFlow's kernel refuses the first; the math is sound).

The fast path reduces any depth multiplier to M == 1: the input's channels are repeated
M times (x_rep[..., c*M + m] = x[..., c]) and the kernel is viewed as (kh, kw, C*M), so
one kernel serves every M (the copy costs M times the input's memory; with M == 1 there
is no copy).
"""

import numpy as np

from ._args import as_pair, check_array, check_bias, check_grad, check_padding, conv_geometry, crop_padding, pad_input
from ._numba import kernel, prange


def check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate):
    """Checked (x, depthwise_kernel, bias, geometry); raises before any kernel runs."""
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


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------


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
    """y[n, oy, ox, q] = bias[q] + sum_{i, j} x[n, oy*sh + i*dh - pad_top, ox*sw + j*dw - pad_left, q] * k[i, j, q].

    y (N, H_out, W_out, Q) is written; x (N, H, W, Q) is the unpadded input (channels
    already repeated M times, Q = C*M); k (kh, kw, Q); bias (Q,) (zeros without a bias).

    Optimisations:
    - prange over the N*H_out output rows: each thread owns whole rows of y, and there
      are enough rows (896 at 32x28) to keep both cores busy even for small batches.
    - the innermost loop runs over the contiguous channel axis, so it vectorises
      (AVX-512: 16 float32 per instruction) and reads x, k and y unit-stride.
    - padding is handled by skipping window taps that fall outside the image instead of
      copying x into a padded array: no extra pass over memory (a padded copy cost about
      as much as the convolution itself at 28x28x32).
    - the kernel-row loop i sits outside the ox loop, so the bounds check on rows is done
      once per (row, i) and one input row is streamed per tap row.
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


def _repeat_channels(x, multiplier):
    """x with each channel repeated M times, C-contiguous: x_rep[..., c*M + m] = x[..., c]."""
    if multiplier == 1:
        return np.ascontiguousarray(x)  # (N, H, W, C)
    return np.repeat(x, multiplier, axis=3)  # (N, H, W, C*M)


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
    _depthwise_forward_kernel(y, x_rep, k_flat, b, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left)
    return y


def depthwise_conv2d(x, depthwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1):
    """Depthwise convolution (fast Numba version); same arguments and result as depthwise_conv2d_naive.

    x (N, H, W, C), depthwise_kernel (kh, kw, C, M), bias (C*M,) or None -> y (N, H_out, W_out, C*M).
    """
    x, k, bias, g = check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate)
    return _depthwise_forward(x, k, bias, g)


# ---------------------------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------------------------


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
    its gradient g = dy[n, oy, ox, c*M + m] back to the window (g * k[:, :, c, m]), to the
    kernel (g * window) and to the bias (g).
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


@kernel
def _depthwise_backward_kernel(dx, dk_per_image, db_per_image, dy, x, k, sh, sw, dh, dw, pad_top, pad_left):
    """The three gradients in one pass over dy and x, one image per parallel iteration.

    dx (N, H, W, Q), dk_per_image (N, kh, kw, Q) and db_per_image (N, Q) are written and
    must arrive zeroed; dy (N, H_out, W_out, Q); x (N, H, W, Q) with Q = C*M; k (kh, kw, Q).
    Summing dk_per_image and db_per_image over axis 0 afterwards gives dk and dbias.

    Optimisations:
    - prange over the batch: image n owns dx[n], dk_per_image[n] and db_per_image[n], so
      the scatter dx[n, iy, ix] += dy * k never races and no atomic or lock is needed;
      the per-image partial sums of dk are merged by one small sum after the kernel.
    - dx, dk and dbias are fused: each dy value is read once and multiplied by k (for dx)
      and by x (for dk) while both are in registers.
    - innermost loop over the contiguous channel axis (vectorises); padding by skipping
      out-of-image taps, as in the forward.
    """
    n_batch, out_h, out_w, channels = dy.shape
    height, width = x.shape[1], x.shape[2]
    kh, kw = k.shape[0], k.shape[1]
    for n in prange(n_batch):
        for oy in range(out_h):
            for ox in range(out_w):
                for q in range(channels):
                    db_per_image[n, q] += dy[n, oy, ox, q]
            for i in range(kh):
                iy = oy * sh + i * dh - pad_top
                if iy < 0 or iy >= height:
                    continue
                for ox in range(out_w):
                    for j in range(kw):
                        ix = ox * sw + j * dw - pad_left
                        if ix >= 0 and ix < width:
                            for q in range(channels):
                                grad = dy[n, oy, ox, q]
                                dx[n, iy, ix, q] += grad * k[i, j, q]
                                dk_per_image[n, i, j, q] += grad * x[n, iy, ix, q]


def _depthwise_backward(dy, x, k, with_bias, g):
    """The fast backward on checked arguments. (dx, dk, dbias or None)."""
    kh, kw, channels, multiplier = k.shape
    q = channels * multiplier
    x_rep = _repeat_channels(x, multiplier)  # (N, H, W, C*M)
    dx_rep = np.zeros(x_rep.shape, dtype=x.dtype)  # (N, H, W, C*M)
    dk_per_image = np.zeros((g.n, kh, kw, q), dtype=x.dtype)  # (N, kh, kw, C*M)
    db_per_image = np.zeros((g.n, q), dtype=x.dtype)  # (N, C*M)
    if g.n > 0:
        k_flat = np.ascontiguousarray(k).reshape(kh, kw, q)  # (kh, kw, C*M)
        dy = np.ascontiguousarray(dy)  # (N, H_out, W_out, C*M)
        _depthwise_backward_kernel(
            dx_rep, dk_per_image, db_per_image, dy, x_rep, k_flat, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left
        )
    dk = dk_per_image.sum(axis=0).reshape(k.shape)  # (kh, kw, C, M)
    if multiplier == 1:
        dx = dx_rep  # (N, H, W, C)
    else:
        dx = dx_rep.reshape(g.n, g.h, g.w, channels, multiplier).sum(axis=4)  # (N, H, W, C)
    dbias = db_per_image.sum(axis=0) if with_bias else None  # (C*M,)
    return dx, dk, dbias


def depthwise_conv2d_backward(dy, x, depthwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1):
    """Gradients of depthwise_conv2d (fast Numba version); same as depthwise_conv2d_backward_naive.

    dy (N, H_out, W_out, C*M), x (N, H, W, C), depthwise_kernel (kh, kw, C, M), bias (C*M,) or None
    -> (dx (N, H, W, C), ddepthwise_kernel (kh, kw, C, M), dbias (C*M,) or None).
    """
    x, k, bias, g = check_depthwise_args(x, depthwise_kernel, bias, strides, padding, dilation_rate)
    dy = check_grad(dy, "dy", (g.n, g.out_h, g.out_w, k.shape[2] * k.shape[3]), x.dtype)
    return _depthwise_backward(dy, x, k, bias is not None, g)
