"""Standard (grouped) 2-D convolution, forward and backward: loop by loop, then fast.

Shapes (NHWC, Keras layouts)::

    x       (N, H, W, C_in)
    kernel  (kh, kw, C_in // groups, F)
    bias    (F,) or None
    y       (N, H_out, W_out, F)

With ``Cg = C_in // groups`` input channels and ``Fg = F // groups`` output
channels per group, output channel ``f`` belongs to group ``g = f // Fg`` and
reads only the input channels ``g*Cg : (g+1)*Cg``. On the zero-padded input xp::

    y[n, oy, ox, f] = bias[f] + sum_{ky, kx, c} xp[n, oy*sh + ky*dh, ox*sw + kx*dw, g*Cg + c]
                                                * kernel[ky, kx, c, f]

``groups=1`` is the ordinary convolution. The backward pass spreads each
``dy[n, oy, ox, f]`` back over the same window::

    dxp[n, iy, ix, g*Cg + c] += dy[n, oy, ox, f] * kernel[ky, kx, c, f]
    dkernel[ky, kx, c, f]    += dy[n, oy, ox, f] * xp[n, iy, ix, g*Cg + c]
    dbias[f]                  = sum_{n, oy, ox} dy[n, oy, ox, f]

and dx is dxp without its padding.

The fast versions turn the convolution into matrix products (im2col): every
output pixel's window becomes one row of ``cols``, the kernel becomes a
(kh*kw*Cg, F) matrix, and BLAS multiplies them. See ``_im2col`` and
``_col2im`` for the layouts and the measured costs.
"""

from numbers import Integral

import numpy as np

from ._args import (
    as_pair,
    check_array,
    check_bias,
    check_grad,
    check_padding,
    conv_geometry,
    crop_padding,
    pad_input,
)
from ._numba import kernel as numba_kernel
from ._numba import prange


def _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, dy=None):
    """Check every argument (before any Numba code runs) and work out the geometry.

    Returns ``(x, kernel, bias, dy, g, groups)``: the arrays as ndarrays (not
    copied), ``g`` the window Geometry (see ``_args.conv_geometry``).
    """
    x = check_array(x, "x", 4)  # (N, H, W, C_in)
    kernel = check_array(kernel, "kernel", 4, x.dtype)  # (kh, kw, C_in // groups, F)
    if not isinstance(groups, (Integral, np.integer)) or isinstance(groups, (bool, np.bool_)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    c_in = x.shape[3]
    kh, kw, c_group, filters = kernel.shape
    if c_in < 1:
        raise ValueError(f"x must have at least one channel, got shape {x.shape}")
    if kh < 1 or kw < 1 or filters < 1:
        raise ValueError(f"kernel must have a non-empty window and at least one filter, got shape {kernel.shape}")
    if c_in % groups != 0:
        raise ValueError(f"the input channels of x ({c_in}) must be divisible by groups ({groups})")
    if filters % groups != 0:
        raise ValueError(f"the number of filters kernel.shape[3] ({filters}) must be divisible by groups ({groups})")
    if c_group != c_in // groups:
        raise ValueError(
            f"kernel must have shape (kh, kw, C_in // groups, F) = ({kh}, {kw}, {c_in // groups}, {filters}) "
            f"for x with {c_in} channels and groups={groups}, got shape {kernel.shape}"
        )
    bias = check_bias(bias, filters, x.dtype)
    strides = as_pair(strides, "strides")
    padding = check_padding(padding)
    dilation_rate = as_pair(dilation_rate, "dilation_rate")
    g = conv_geometry(x.shape, (kh, kw), strides, padding, dilation_rate)
    if dy is not None:
        dy = check_grad(dy, "dy", (g.n, g.out_h, g.out_w, filters), x.dtype)  # (N, H_out, W_out, F)
    return x, kernel, bias, dy, g, groups


# --------------------------------------------------------------------------- forward


def conv2d_naive(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Grouped 2-D convolution, one multiply-add at a time.

    Parameters
    ----------
    x : (N, H, W, C_in) float32 or float64
    kernel : (kh, kw, C_in // groups, F), same dtype
    bias : (F,) or None
    strides, dilation_rate : int or (rows, cols), >= 1
    padding : 'valid' or 'same' (odd padding pixel at the bottom/right, as Keras)
    groups : int, divides C_in and F

    Returns
    -------
    y : (N, H_out, W_out, F), dtype of x, where (g = f // Fg, Cg = C_in // groups)::

        y[n, oy, ox, f] = bias[f] + sum_{ky, kx, c} xp[n, oy*sh + ky*dh, ox*sw + kx*dw, g*Cg + c]
                                                    * kernel[ky, kx, c, f]
    """
    x, kernel, bias, _, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups)
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups  # output channels per group
    xp = pad_input(x, g)  # (N, H + pad_top + pad_bottom, W + pad_left + pad_right, C_in)
    y = np.zeros((g.n, g.out_h, g.out_w, filters), dtype=x.dtype)  # (N, H_out, W_out, F)
    for n in range(g.n):
        for oy in range(g.out_h):
            for ox in range(g.out_w):
                for f in range(filters):
                    group = f // fg  # f reads input channels group*cg .. group*cg + cg - 1
                    total = x.dtype.type(0)
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * g.sh + ky * g.dh  # row in the padded input
                            ix = ox * g.sw + kx * g.dw  # column in the padded input
                            for c in range(cg):
                                total += xp[n, iy, ix, group * cg + c] * kernel[ky, kx, c, f]
                    if bias is not None:
                        total += bias[f]
                    y[n, oy, ox, f] = total
    return y


@numba_kernel
def _im2col(cols, xp, kh, kw, sh, sw, dh, dw, out_h, out_w, groups):
    """Unfold every output pixel's window into one row of ``cols``.

    ``cols`` (groups, N*H_out*W_out, kh*kw*Cg) is filled so that::

        cols[grp, (n*H_out + oy)*W_out + ox, (ky*kw + kx)*Cg + c]
            = xp[n, oy*sh + ky*dh, ox*sw + kx*dw, grp*Cg + c]

    The column order (ky, kx, c) is the C order of the kernel's first three
    axes, so ``kernel.reshape(kh*kw*Cg, F)`` is the matching weight matrix and
    one ``cols[grp] @ W[:, group's filters]`` computes a whole group.

    Speed notes:
    - prange over ``r = n*H_out + oy``: each iteration writes only its own
      W_out rows of ``cols`` (no two threads write the same element), and there
      are N*H_out of them, enough to keep every thread busy even at N = 1.
    - The innermost loop copies Cg contiguous values to Cg contiguous slots,
      which LLVM turns into vector moves.
    - One layout per group, (groups, M, K): ``cols[grp]`` is a C-contiguous
      matrix that BLAS takes without a copy; for groups = 1 it is the whole
      buffer.
    """
    n_images = xp.shape[0]
    cg = xp.shape[3] // groups
    for r in prange(n_images * out_h):
        n = r // out_h
        oy = r - n * out_h
        for ox in range(out_w):
            row = r * out_w + ox
            for grp in range(groups):
                for ky in range(kh):
                    iy = oy * sh + ky * dh
                    for kx in range(kw):
                        ix = ox * sw + kx * dw
                        col0 = (ky * kw + kx) * cg
                        for c in range(cg):
                            cols[grp, row, col0 + c] = xp[n, iy, ix, grp * cg + c]


def _unfold(x, kernel, g, groups):
    """Pad x and run ``_im2col``: cols (groups, N*H_out*W_out, kh*kw*Cg) and the kernel as W (kh*kw*Cg, F)."""
    kh, kw, cg, filters = kernel.shape
    xp = pad_input(x, g)  # (N, H_pad, W_pad, C_in), C-contiguous
    cols = np.empty((groups, g.n * g.out_h * g.out_w, kh * kw * cg), dtype=x.dtype)  # (groups, M, K)
    _im2col(cols, xp, kh, kw, g.sh, g.sw, g.dh, g.dw, g.out_h, g.out_w, groups)
    weights = np.ascontiguousarray(kernel).reshape(kh * kw * cg, filters)  # (K, F)
    return cols, weights


def conv2d(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Grouped 2-D convolution, fast: im2col (Numba, parallel) then one BLAS matmul per group.

    Same arguments, checks and result as ``conv2d_naive``::

        y (N*H_out*W_out, F)[:, group's Fg filters] = cols[group] @ W[:, group's Fg filters] + bias
    """
    x, kernel, bias, _, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups)
    filters = kernel.shape[3]
    fg = filters // groups
    cols, weights = _unfold(x, kernel, g, groups)  # (groups, M, K), (K, F)
    y = np.empty((cols.shape[1], filters), dtype=x.dtype)  # (M, F), M = N*H_out*W_out
    for grp in range(groups):
        group_filters = slice(grp * fg, (grp + 1) * fg)
        np.matmul(cols[grp], weights[:, group_filters], out=y[:, group_filters])  # (M, Fg)
    if bias is not None:
        y += bias
    return y.reshape(g.n, g.out_h, g.out_w, filters)  # (N, H_out, W_out, F)


# --------------------------------------------------------------------------- backward


def conv2d_backward_naive(dy, x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Gradients of ``conv2d`` by walking the forward loops and spreading each ``dy`` back.

    Parameters
    ----------
    dy : (N, H_out, W_out, F), the gradient of the loss with respect to y
    x, kernel, bias, strides, padding, dilation_rate, groups : as in ``conv2d_naive``

    Returns
    -------
    dx : (N, H, W, C_in)
    dkernel : (kh, kw, C_in // groups, F)
    dbias : (F,), or None when bias is None

    For every term of the forward sum (g = f // Fg)::

        dxp[n, iy, ix, g*Cg + c] += dy[n, oy, ox, f] * kernel[ky, kx, c, f]
        dkernel[ky, kx, c, f]    += dy[n, oy, ox, f] * xp[n, iy, ix, g*Cg + c]

    with iy = oy*sh + ky*dh, ix = ox*sw + kx*dw; dx is dxp without its padding
    and dbias[f] = sum_{n, oy, ox} dy[n, oy, ox, f].
    """
    x, kernel, bias, dy, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, dy)
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    xp = pad_input(x, g)  # (N, H_pad, W_pad, C_in)
    dxp = np.zeros(xp.shape, dtype=x.dtype)  # (N, H_pad, W_pad, C_in)
    dkernel = np.zeros(kernel.shape, dtype=x.dtype)  # (kh, kw, Cg, F)
    for n in range(g.n):
        for oy in range(g.out_h):
            for ox in range(g.out_w):
                for f in range(filters):
                    group = f // fg
                    grad = dy[n, oy, ox, f]
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * g.sh + ky * g.dh
                            ix = ox * g.sw + kx * g.dw
                            for c in range(cg):
                                dxp[n, iy, ix, group * cg + c] += grad * kernel[ky, kx, c, f]
                                dkernel[ky, kx, c, f] += grad * xp[n, iy, ix, group * cg + c]
    dx = np.ascontiguousarray(crop_padding(dxp, g))  # (N, H, W, C_in)
    dbias = None if bias is None else dy.sum(axis=(0, 1, 2))  # (F,)
    return dx, dkernel, dbias


@numba_kernel
def _col2im(dxp, dcols, kh, kw, sh, sw, dh, dw, out_h, out_w, groups):
    """Fold the window gradients back onto the padded input: the adjoint of ``_im2col``.

    ``dcols`` (groups, N*H_out*W_out, kh*kw*Cg) holds dy @ W^T; every entry is
    added where ``_im2col`` read it from::

        dxp[n, oy*sh + ky*dh, ox*sw + kx*dw, grp*Cg + c]
            += dcols[grp, (n*H_out + oy)*W_out + ox, (ky*kw + kx)*Cg + c]

    ``dxp`` (N, H_pad, W_pad, C_in) must start at zero (pixels no window
    touches keep a zero gradient).

    Speed notes:
    - prange over the image n: overlapping windows add into the same pixels,
      so rows of one image cannot be split between threads without races;
      whole images can. Each thread's image (H_pad*W_pad*C_in values) stays
      in its core's cache while it is accumulated.
    - ``dcols`` is read once, in order.
    """
    n_images = dxp.shape[0]
    cg = dxp.shape[3] // groups
    for n in prange(n_images):
        for oy in range(out_h):
            for ox in range(out_w):
                row = (n * out_h + oy) * out_w + ox
                for grp in range(groups):
                    for ky in range(kh):
                        iy = oy * sh + ky * dh
                        for kx in range(kw):
                            ix = ox * sw + kx * dw
                            col0 = (ky * kw + kx) * cg
                            for c in range(cg):
                                dxp[n, iy, ix, grp * cg + c] += dcols[grp, row, col0 + c]


def conv2d_backward(dy, x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Gradients of ``conv2d``, fast: three BLAS products and a Numba col2im.

    Same arguments, checks and results as ``conv2d_backward_naive``. With
    ``cols`` and ``W`` as in the forward pass (recomputed: the kernels keep no
    state), per group::

        dW    (K, Fg) = cols[group]^T @ dy2d[:, group's filters]     -> dkernel
        dcols (M, K)  = dy2d[:, group's filters] @ W[:, group's filters]^T
        dxp           = col2im(dcols)                                 -> dx (padding cropped)
        dbias (F,)    = dy2d summed over its M rows
    """
    x, kernel, bias, dy, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, dy)
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    cols, weights = _unfold(x, kernel, g, groups)  # (groups, M, K), (K, F)
    dy2d = np.ascontiguousarray(dy).reshape(cols.shape[1], filters)  # (M, F)
    dweights = np.empty(weights.shape, dtype=x.dtype)  # (K, F)
    dcols = cols  # (groups, M, K): each group's cols is dead once its dW is done, so dcols reuses the buffer
    for grp in range(groups):
        group_filters = slice(grp * fg, (grp + 1) * fg)
        np.matmul(cols[grp].T, dy2d[:, group_filters], out=dweights[:, group_filters])  # (K, Fg)
        np.matmul(dy2d[:, group_filters], weights[:, group_filters].T, out=dcols[grp])  # (M, K)
    dxp = np.zeros((g.n, g.padded_h, g.padded_w, x.shape[3]), dtype=x.dtype)  # (N, H_pad, W_pad, C_in)
    _col2im(dxp, dcols, kh, kw, g.sh, g.sw, g.dh, g.dw, g.out_h, g.out_w, groups)
    dx = np.ascontiguousarray(crop_padding(dxp, g))  # (N, H, W, C_in)
    dkernel = dweights.reshape(kernel.shape)  # (kh, kw, Cg, F)
    dbias = None if bias is None else dy2d.sum(axis=0)  # (F,)
    return dx, dkernel, dbias
