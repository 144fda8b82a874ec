"""Depthwise-separable convolution: a depthwise convolution, then a pointwise (1x1) one.

With x (N, H, W, C), depthwise_kernel (kh, kw, C, M), pointwise_kernel (1, 1, C*M, F) and
bias (F,):

    z = depthwise_conv2d(x, depthwise_kernel, strides, padding, dilation_rate)   # (N, H_out, W_out, C*M), no bias
    y = pointwise_conv2d(z, pointwise_kernel, bias)                              # (N, H_out, W_out, F)

Strides, padding and dilation belong to the depthwise step; the one bias to the
pointwise step. The backward pass is the chain rule through the two steps:

    dz, dpointwise, dbias = pointwise_conv2d_backward(dy, z, pointwise_kernel, bias)
    dx, ddepthwise, _     = depthwise_conv2d_backward(dz, x, depthwise_kernel)

The backward needs z. By default it recomputes it from x (one depthwise forward, the
cheapest step); a caller that keeps it, as a framework keeps a layer's intermediate results
for the backward pass, gets it from ``separable_conv2d(..., return_depthwise_output=True)``
and passes it back as ``separable_conv2d_backward(..., depthwise_output=z)`` (the layer
``scratchconv.layers.SeparableConv2D`` does).
"""

from .arguments import check_array, check_bias, check_grad
from .depthwise import (
    _depthwise_backward,
    _depthwise_forward,
    check_depthwise_args,
    depthwise_conv2d_backward_naive,
    depthwise_conv2d_naive,
)
from .pointwise import (
    _pointwise_backward,
    _pointwise_forward,
    check_pointwise_kernel,
    pointwise_conv2d_backward_naive,
    pointwise_conv2d_naive,
)


def check_separable_args(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate):
    """Checked (x, depthwise_kernel, pointwise_kernel, bias, geometry); raises before any kernel runs."""
    x, depthwise_kernel, _, g = check_depthwise_args(x, depthwise_kernel, None, strides, padding, dilation_rate)
    channels = depthwise_kernel.shape[2] * depthwise_kernel.shape[3]  # C*M, the depthwise step's output
    pointwise_kernel = check_pointwise_kernel(pointwise_kernel, channels, x.dtype, "pointwise_kernel")
    bias = check_bias(bias, pointwise_kernel.shape[3], x.dtype)  # (F,)
    return x, depthwise_kernel, pointwise_kernel, bias, g


def _checked_depthwise_output(depthwise_output, g, pointwise_kernel, dtype):
    """The caller's z (N, H_out, W_out, C*M) in x's dtype, checked, or None."""
    if depthwise_output is None:
        return None
    z = check_array(depthwise_output, "depthwise_output", 4, dtype)
    expected = (g.n, g.out_h, g.out_w, pointwise_kernel.shape[2])
    if z.shape != expected:
        raise ValueError(f"depthwise_output must have the depthwise step's output shape {expected} "
                         f"(separable_conv2d(..., return_depthwise_output=True) gives it), got {z.shape}")
    return z


def separable_conv2d_naive(
    x, depthwise_kernel, pointwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1,
    return_depthwise_output=False,
):
    """Separable convolution: the naive depthwise convolution, then the naive pointwise one.

    Parameters
    ----------
    x : (N, H, W, C) float32 or float64
    depthwise_kernel : (kh, kw, C, M), same dtype
    pointwise_kernel : (1, 1, C*M, F), same dtype
    bias : (F,) or None
    strides, dilation_rate : int or (rows, cols), for the depthwise step
    padding : 'valid' or 'same', for the depthwise step

    return_depthwise_output : also return z, the depthwise step's output (N, H_out, W_out, C*M),
        for separable_conv2d_backward(..., depthwise_output=z)

    Returns
    -------
    y : (N, H_out, W_out, F), or (y, z) with return_depthwise_output=True
    """
    check_separable_args(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate)
    z = depthwise_conv2d_naive(
        x, depthwise_kernel, None, strides=strides, padding=padding, dilation_rate=dilation_rate
    )  # (N, H_out, W_out, C*M)
    y = pointwise_conv2d_naive(z, pointwise_kernel, bias)  # (N, H_out, W_out, F)
    return (y, z) if return_depthwise_output else y


def separable_conv2d(
    x, depthwise_kernel, pointwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1,
    return_depthwise_output=False,
):
    """Separable convolution (fast: the Numba depthwise kernel, then one BLAS product).

    Same arguments and result as separable_conv2d_naive: x (N, H, W, C), depthwise_kernel
    (kh, kw, C, M), pointwise_kernel (1, 1, C*M, F), bias (F,) or None -> y (N, H_out, W_out, F)
    (and z (N, H_out, W_out, C*M) with return_depthwise_output=True).
    """
    x, dk, pk, bias, g = check_separable_args(
        x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate
    )
    y, z = _separable_forward(x, dk, pk, bias, g)
    return (y, z) if return_depthwise_output else y


def _separable_forward(x, dk, pk, bias, g):
    """The fast forward on checked arguments (g: the window geometry): (y, z)."""
    z = _depthwise_forward(x, dk, None, g)  # (N, H_out, W_out, C*M)
    return _pointwise_forward(z, pk, bias), z  # (N, H_out, W_out, F)


def separable_conv2d_backward_naive(
    dy, x, depthwise_kernel, pointwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1,
    depthwise_output=None,
):
    """Gradients of separable_conv2d: the chain rule through the naive pointwise and depthwise steps.

    Parameters
    ----------
    dy : (N, H_out, W_out, F), the gradient of the loss with respect to y
    x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate : as in the forward

    Returns
    -------
    dx : (N, H, W, C)
    ddepthwise_kernel : (kh, kw, C, M)
    dpointwise_kernel : (1, 1, C*M, F)
    dbias : (F,), or None when bias is None

    depthwise_output : z from separable_conv2d(..., return_depthwise_output=True) for the same
        x and depthwise_kernel, or None to recompute it
    """
    x, dk, pk, bias, g = check_separable_args(
        x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate
    )
    dy = check_grad(dy, "dy", (g.n, g.out_h, g.out_w, pk.shape[3]), x.dtype)
    kwargs = dict(strides=strides, padding=padding, dilation_rate=dilation_rate)
    z = _checked_depthwise_output(depthwise_output, g, pk, x.dtype)  # (N, H_out, W_out, C*M) or None
    if z is None:
        z = depthwise_conv2d_naive(x, dk, None, **kwargs)  # recomputed
    dz, dpk, dbias = pointwise_conv2d_backward_naive(dy, z, pk, bias)  # (N, H_out, W_out, C*M), (1, 1, C*M, F), (F,)
    dx, ddk, _ = depthwise_conv2d_backward_naive(dz, x, dk, None, **kwargs)  # (N, H, W, C), (kh, kw, C, M)
    return dx, ddk, dpk, dbias


def separable_conv2d_backward(
    dy, x, depthwise_kernel, pointwise_kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1,
    depthwise_output=None,
):
    """Gradients of separable_conv2d (fast); same arguments and result as separable_conv2d_backward_naive.

    -> (dx (N, H, W, C), ddepthwise_kernel (kh, kw, C, M), dpointwise_kernel (1, 1, C*M, F), dbias (F,) or None).
    """
    x, dk, pk, bias, g = check_separable_args(
        x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate
    )
    dy = check_grad(dy, "dy", (g.n, g.out_h, g.out_w, pk.shape[3]), x.dtype)
    z = _checked_depthwise_output(depthwise_output, g, pk, x.dtype)  # (N, H_out, W_out, C*M) or None
    if z is None:
        z = _depthwise_forward(x, dk, None, g)  # recomputed
    return _separable_backward(dy, x, dk, pk, bias is not None, g, z)


def _separable_backward(dy, x, dk, pk, with_bias, g, z, activation=None):
    """The fast backward on checked arguments, z the depthwise output: (dx, ddk, dpk, dbias or None).

    activation: see ``depthwise._depthwise_backward`` (then dx is the layer before's dz, and its
    dbias comes last).
    """
    dz, dpk, dbias = _pointwise_backward(dy, z, pk, with_bias)  # (N, H_out, W_out, C*M), (1, 1, C*M, F), (F,)
    dx, ddk, _, *before = _depthwise_backward(dz, x, dk, False, g, activation)  # (N, H, W, C), (kh, kw, C, M)
    return (dx, ddk, dpk, dbias, *before)
