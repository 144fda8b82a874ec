"""Pointwise (1x1) convolution, forward and backward: the loop-by-loop version and the fast one.

A 1x1 convolution mixes channels and never looks at neighbouring pixels. With x
(N, H, W, C_in), kernel (1, 1, C_in, F), bias (F,), and W = kernel[0, 0] (C_in, F):

    y[n, i, j, f] = bias[f] + sum_c x[n, i, j, c] * W[c, f]        y: (N, H, W, F)

so every pixel is one vector-matrix product. Backward, for dy (N, H, W, F):

    dx[n, i, j, c] = sum_f dy[n, i, j, f] * W[c, f]
    dW[c, f]       = sum_{n, i, j} x[n, i, j, c] * dy[n, i, j, f]
    dbias[f]       = sum_{n, i, j} dy[n, i, j, f]

The fast version sees the N*H*W pixels as the rows of one matrix X (P, C_in) (a free
reshape of the contiguous NHWC array), so the whole layer is one matrix product
Y = X @ W, and the backward two more: dX = dY @ W^T, dW = X^T @ dY. These run in
NumPy's BLAS (np.matmul), outside any Numba kernel, with BLAS's own threads.
"""

import numpy as np

from .arguments import check_array, check_bias, check_grad, conv_geometry
from .numba_config import kernel, prange


def check_pointwise_kernel(kernel, c_in, dtype, name="kernel"):
    """A (1, 1, c_in, F) kernel of ``dtype`` with F >= 1."""
    kernel = check_array(kernel, name, 4, dtype)  # (1, 1, C_in, F)
    if kernel.shape[:3] != (1, 1, c_in) or kernel.shape[3] < 1:
        raise ValueError(f"{name} must have shape (1, 1, {c_in}, F) with F >= 1, got {kernel.shape}")
    return kernel


def check_pointwise_args(x, kernel, bias):
    """Checked (x, kernel, bias); raises before any computation."""
    x = check_array(x, "x", 4)  # (N, H, W, C_in)
    if x.shape[3] < 1:
        raise ValueError(f"x must have at least one channel, got shape {x.shape}")
    conv_geometry(x.shape, (1, 1), (1, 1), "valid", (1, 1))  # rejects an empty image
    kernel = check_pointwise_kernel(kernel, x.shape[3], x.dtype)  # (1, 1, C_in, F)
    bias = check_bias(bias, kernel.shape[3], x.dtype)  # (F,)
    return x, kernel, bias


# ---------------------------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------------------------


def pointwise_conv2d_naive(x, kernel, bias=None):
    """Pointwise convolution, one output value at a time.

    Parameters
    ----------
    x : (N, H, W, C_in) float32 or float64
    kernel : (1, 1, C_in, F), same dtype
    bias : (F,) or None

    Returns
    -------
    y : (N, H, W, F), y[n, i, j, f] = bias[f] + sum_c x[n, i, j, c] * kernel[0, 0, c, f]
    """
    x, kernel, bias = check_pointwise_args(x, kernel, bias)
    n_batch, height, width, _ = x.shape
    filters = kernel.shape[3]
    w = kernel[0, 0]  # (C_in, F)
    y = np.zeros((n_batch, height, width, filters), dtype=x.dtype)  # (N, H, W, F)
    for n in range(n_batch):
        for i in range(height):
            for j in range(width):
                for f in range(filters):
                    y[n, i, j, f] = np.sum(x[n, i, j, :] * w[:, f])
                    if bias is not None:
                        y[n, i, j, f] += bias[f]
    return y


def _pointwise_forward(x, kernel, bias):
    """The fast forward on checked arguments: one matrix product. y (N, H, W, F)."""
    n_batch, height, width, c_in = x.shape
    filters = kernel.shape[3]
    pixels = np.ascontiguousarray(x).reshape(-1, c_in)  # (P, C_in), P = N*H*W; no copy if x is C-ordered
    y = np.matmul(pixels, kernel.reshape(c_in, filters))  # (P, F)
    if bias is not None:
        _add_bias(y, bias)
    return y.reshape(n_batch, height, width, filters)  # (N, H, W, F)


@kernel
def _add_bias(y, bias):
    """y += bias, in place, for y (P, F) and bias (F,): prange over the pixels.

    ``y += bias`` makes NumPy loop over P rows of only F values each; this loop (and NumPy on a
    bias tiled over blocks of rows) was faster (docs/performance.md).
    """
    pixels, filters = y.shape
    for p in prange(pixels):
        for f in range(filters):
            y[p, f] += bias[f]


def pointwise_conv2d(x, kernel, bias=None):
    """Pointwise convolution (fast: one BLAS matrix product); same arguments and result as the naive one.

    x (N, H, W, C_in), kernel (1, 1, C_in, F), bias (F,) or None -> y (N, H, W, F).
    """
    x, kernel, bias = check_pointwise_args(x, kernel, bias)
    return _pointwise_forward(x, kernel, bias)


# ---------------------------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------------------------


def pointwise_conv2d_backward_naive(dy, x, kernel, bias=None):
    """Gradients of pointwise_conv2d, one pixel at a time.

    Parameters
    ----------
    dy : (N, H, W, F), the gradient of the loss with respect to y
    x, kernel, bias : as in the forward

    Returns
    -------
    dx : (N, H, W, C_in), dx[n, i, j, c] = sum_f dy[n, i, j, f] * kernel[0, 0, c, f]
    dkernel : (1, 1, C_in, F), dkernel[0, 0, c, f] = sum_{n, i, j} x[n, i, j, c] * dy[n, i, j, f]
    dbias : (F,) = sum_{n, i, j} dy[n, i, j, :], or None when bias is None
    """
    x, kernel, bias = check_pointwise_args(x, kernel, bias)
    n_batch, height, width, c_in = x.shape
    dy = check_grad(dy, "dy", (n_batch, height, width, kernel.shape[3]), x.dtype)
    w = kernel[0, 0]  # (C_in, F)
    dx = np.zeros(x.shape, dtype=x.dtype)  # (N, H, W, C_in)
    dw = np.zeros(w.shape, dtype=x.dtype)  # (C_in, F)
    dbias = None if bias is None else np.zeros(bias.shape, dtype=x.dtype)  # (F,)
    for n in range(n_batch):
        for i in range(height):
            for j in range(width):
                grad = dy[n, i, j, :]  # (F,)
                for c in range(c_in):
                    dx[n, i, j, c] = np.sum(grad * w[c, :])
                    dw[c, :] += x[n, i, j, c] * grad
                if dbias is not None:
                    dbias += grad
    return dx, dw.reshape(kernel.shape), dbias


def _pointwise_backward(dy, x, kernel, with_bias):
    """The fast backward on checked arguments: two matrix products and a sum. (dx, dkernel, dbias or None)."""
    n_batch, height, width, c_in = x.shape
    filters = kernel.shape[3]
    pixels = np.ascontiguousarray(x).reshape(-1, c_in)  # (P, C_in)
    grads = np.ascontiguousarray(dy).reshape(-1, filters)  # (P, F)
    w = kernel.reshape(c_in, filters)  # (C_in, F)
    dx = np.matmul(grads, w.T)  # (P, C_in)
    dw = weight_gradient(pixels, grads, n_batch)  # (C_in, F)
    dbias = bias_gradient(grads) if with_bias else None  # (F,)
    return dx.reshape(x.shape), dw.reshape(kernel.shape), dbias


# dW = X^T dY sums over every pixel of the batch into a small matrix. For a small result, one
# long product is slow in OpenBLAS (it splits the result, not the sum, between threads) and a
# product per image is fast (small products run without packing or threads); the per-image
# results are then added up. Larger results were faster as one product, hence the bounds
# below (docs/performance.md).
SPLIT_MAX_RESULT = 32 * 64  # C_in * F
SPLIT_MAX_PRODUCT = 1 << 20  # multiply-adds of one image's product


def weight_gradient(pixels, grads, n_images):
    """X^T dY for pixels X (P, C_in) and grads dY (P, F) of n_images images of P / n_images pixels each.

    One product, or one per image summed (see SPLIT_MAX_RESULT): (C_in, F);
    pixels may also be the transpose of a C-ordered (C_in, P) array (conv2d's cols^T).
    """
    (p, c_in), filters = pixels.shape, grads.shape[1]
    per_image = p // max(n_images, 1)
    if n_images < 2 or c_in * filters > SPLIT_MAX_RESULT or per_image * c_in * filters > SPLIT_MAX_PRODUCT:
        return np.matmul(pixels.T, grads)  # BLAS reads the transpose in place, no copy
    if pixels.T.flags.c_contiguous:  # (C_in, P) in memory
        per_image_t = pixels.T.reshape(c_in, n_images, per_image).transpose(1, 0, 2)  # (N, C_in, P/N), a view
    else:
        per_image_t = pixels.reshape(n_images, per_image, c_in).transpose(0, 2, 1)  # (N, C_in, P/N), a view
    stacked = np.matmul(per_image_t, grads.reshape(n_images, per_image, filters))  # (N, C_in, F)
    return stacked.sum(axis=0)


def bias_gradient(grads):
    """dbias = 1^T dY for grads dY (P, F): the column sums, as a BLAS matrix-vector product.

    Faster than grads.sum(axis=0) (NumPy adds P short rows one by one) and more accurate
    (BLAS keeps several partial sums). Shared with conv2d's im2col and tap-by-tap paths.
    """
    return np.matmul(np.ones(grads.shape[0], dtype=grads.dtype), grads)  # (F,)


def pointwise_conv2d_backward(dy, x, kernel, bias=None):
    """Gradients of pointwise_conv2d (fast: BLAS); same arguments and result as the naive one.

    dy (N, H, W, F), x (N, H, W, C_in), kernel (1, 1, C_in, F), bias (F,) or None
    -> (dx (N, H, W, C_in), dkernel (1, 1, C_in, F), dbias (F,) or None).
    """
    x, kernel, bias = check_pointwise_args(x, kernel, bias)
    dy = check_grad(dy, "dy", (*x.shape[:3], kernel.shape[3]), x.dtype)
    return _pointwise_backward(dy, x, kernel, bias is not None)


# --------------------------------------------------------------------------- with strides (Conv2D(F, 1, strides))


def pointwise_conv2d_strided(x, kernel, bias, strides):
    """A 1x1 convolution without groups: ``pointwise_conv2d`` on the pixels the strides keep (a 1x1
    window with strides skips pixels; 'same' adds no padding to it). x (N, H, W, C) -> (N, H_out, W_out, F)."""
    sh, sw = strides
    return pointwise_conv2d(x[:, ::sh, ::sw, :], kernel, bias)


def pointwise_conv2d_strided_backward(dz, x, kernel, bias, strides):
    """(dx, dkernel, dbias) of ``pointwise_conv2d_strided``; the skipped pixels get no gradient."""
    sh, sw = strides
    dx_kept, dkernel, dbias = pointwise_conv2d_backward(dz, x[:, ::sh, ::sw, :], kernel, bias)
    if (sh, sw) == (1, 1):
        return dx_kept, dkernel, dbias
    dx = np.zeros(x.shape, dtype=x.dtype)  # (N, H, W, C)
    dx[:, ::sh, ::sw, :] = dx_kept  # (N, H_out, W_out, C)
    return dx, dkernel, dbias
