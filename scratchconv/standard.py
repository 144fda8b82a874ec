"""Standard (grouped) 2-D convolution, forward and backward: loop by loop, then fast.

Shapes (NHWC, Keras layouts): x (N, H, W, C_in), kernel (kh, kw, C_in // groups, F),
bias (F,) or None, y (N, H_out, W_out, F). With Cg = C_in // groups and Fg = F // groups,
output channel f belongs to group g = f // Fg and reads only the input channels
g*Cg .. g*Cg + Cg - 1; groups=1 is the ordinary convolution. The formulas are in the
docstrings of ``conv2d_naive`` and ``conv2d_backward_naive``.

The fast versions "unfold the rows and shift the columns". The kernel rows are unfolded
as in im2col: ``rows`` holds, for every output row oy and every input column j, the kh
input pixels of that column stacked (kh*Cg values; rows of padding are zeros). One BLAS
product with the kernel as a (kh*Cg, kw*Fg) matrix gives ``z``, what column j contributes
to each of the kw window positions; a shifted sum over kx then gives y, skipping the taps
that fall on padding columns. That is im2col along the rows and kn2row along the columns
(compare MEC, Cho & Brand 2017); ``conv2d`` says why it beats a full im2col here. The
backward pass runs the same matrices backwards.

Two other paths live in their own modules: a layer with few input channels for its filters
(kh*kw*Cg < kw*Fg, like a network's first layer, 1 channel in and 32 out), or with column
strides (where z would be computed at columns no window starts at), takes a full im2col
(``_im2col.py``, ``use_im2col``); a kernel holding Inf or NaN goes tap by tap, so that
padding zeros are never multiplied by it (``_conv2d_taps.py``).
"""

from numbers import Integral

import numba
import numpy as np

from . import activations
from ._args import as_pair, check_array, check_bias, check_grad, check_padding, conv_geometry, crop_padding, pad_input
from ._numba import kernel as numba_kernel
from ._numba import prange
from ._conv2d_taps import _conv2d_backward_by_taps, _conv2d_by_taps
from ._im2col import conv2d_backward_im2col, conv2d_im2col, use_im2col
from .pointwise import bias_gradient


_FORWARD = object()  # _prepare's dy when called from a forward function


def _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, dy=_FORWARD):
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
    if dy is not _FORWARD:  # a backward call: dy must be the forward output's gradient
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

    xp is x zero-padded; here its zeros are multiplied like any pixel, so an Inf weight
    that meets the padding gives NaN (as TensorFlow's float64 kernels), where the fast
    ``conv2d`` skips the padding (as TensorFlow's float32 kernels).
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
def _unfold_rows(rows, x, kh, sh, dh, pad_top, out_h, w_z, groups):
    """Stack the kh input rows under every output row, for each input column j < W_z.

    rows (N*H_out*W_z, groups, kh*Cg) from the unpadded x (N, H, W, C_in), with x's rows
    padded (xr: zeros above and below, not beside)::

        rows[(n*H_out + oy)*W_z + j, grp, ky*Cg + c] = xr[n, oy*sh + ky*dh, j, grp*Cg + c]

    prange over r = n*H_out + oy, whose W_z rows only this iteration writes. Reading x
    directly (one bounds test per pixel) saves a padding pass; the inner loop copies Cg
    contiguous values to contiguous slots (vector moves).
    """
    n_images, h, w, c_in = x.shape
    cg = c_in // groups
    for r in prange(n_images * out_h):
        n = r // out_h
        oy = r - n * out_h
        for j in range(w_z):  # column in x
            row = r * w_z + j
            for grp in range(groups):
                for ky in range(kh):
                    i = oy * sh + ky * dh - pad_top  # row in x
                    if 0 <= i < h:
                        for c in range(cg):
                            rows[row, grp, ky * cg + c] = x[n, i, j, grp * cg + c]
                    else:
                        for c in range(cg):
                            rows[row, grp, ky * cg + c] = 0.0


@numba_kernel
def _shift_add(y, z, bias, kw, sw, dw, pad_left, w_z, groups):
    """Sum each window's kw column contributions z (N*H_out*W_z, groups, kw*Fg), add the bias::

        y[n, oy, ox, grp*Fg + f] = sum_kx z[(n*H_out + oy)*W_z + j, grp, kx*Fg + f] + bias[grp*Fg + f]

    over the kx whose column j = ox*sw + kx*dw - pad_left is in x (0 <= j < W_z); the others
    fall on padding, which contributes nothing. prange over r = n*H_out + oy (one output
    row of y (N, H_out, W_out, F) each); the bias is added while the row is in L1, not in a
    separate pass over y.
    """
    n_images, out_h, out_w, filters = y.shape
    fg = filters // groups
    for r in prange(n_images * out_h):
        n = r // out_h
        oy = r - n * out_h
        for ox in range(out_w):
            for f in range(filters):
                y[n, oy, ox, f] = 0.0
            for kx in range(kw):
                j = ox * sw + kx * dw - pad_left  # column in x
                if j < 0 or j >= w_z:
                    continue
                row = r * w_z + j
                for grp in range(groups):
                    for f in range(fg):
                        y[n, oy, ox, grp * fg + f] += z[row, grp, kx * fg + f]
            for f in range(filters):
                y[n, oy, ox, f] += bias[f]


def _row_weights(kernel, groups):
    """The kernel as one matrix per group: W[grp, ky*Cg + c, kx*Fg + f] = kernel[ky, kx, c, grp*Fg + f]."""
    kh, kw, cg, filters = kernel.shape
    per_group = kernel.reshape(kh, kw, cg, groups, filters // groups)  # (kh, kw, Cg, groups, Fg)
    return np.ascontiguousarray(per_group.transpose(3, 0, 2, 1, 4)).reshape(groups, kh * cg, -1)  # (groups, kh*Cg, kw*Fg)


# The fast functions take a chunk of images at a time, so that rows and z (about
# CHUNK_BYTES each) stay in the core's L2 cache from the unfold through the BLAS product
# to the shift-add; each product keeps >= CHUNK_MIN_ROWS rows so that BLAS still gets tall
# matrices. Measured (one thread, CPU time, batch 32, 3x3 'same', min of 15), whole batch
# -> chunks: forward 28x28 32->32 8.1 -> 5.8 ms, 14x14 64->64 6.1 -> 5.3 ms; backward
# 16.4 -> 12.4 and 11.6 -> 10.7 ms; 7x7 128->128 is one chunk either way. With two threads
# (both cores' L2), median of 3x20, 1 MiB -> 4 MiB chunks: forward 6.0 -> 5.6 and 4.7 -> 4.4 ms,
# backward 13.3 -> 12.2 and 9.4 -> 9.2 ms (16 MiB: 28x28 slower again, 9.2 / 14.6 ms).
CHUNK_BYTES = 1 << 22
CHUNK_MIN_ROWS = 2048


def _chunks(g, kernel, groups, w_z, itemsize):
    """Image ranges for the row method (rows and z, row_bytes per row), and the rows in the largest."""
    kh, kw, cg, filters = kernel.shape
    return _image_chunks(g.n, g.out_h * w_z, groups * max(kh * cg, kw * (filters // groups)) * itemsize)


def _image_chunks(n, rows_per_image, row_bytes):
    """Consecutive image ranges (slices of the batch) whose buffers of row_bytes per row take about
    CHUNK_BYTES, at least CHUNK_MIN_ROWS rows each; and the rows in the largest."""
    want = max(CHUNK_MIN_ROWS, CHUNK_BYTES // row_bytes)
    step = max(1, min(n, -(-want // rows_per_image)))  # images per chunk at most
    step = -(-n // -(-n // step)) if n else 1  # the same number of chunks, evened out
    return [slice(n0, min(n0 + step, n)) for n0 in range(0, n, step)], step * rows_per_image


def conv2d(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Grouped 2-D convolution, fast: unfold the rows (Numba), a BLAS product per group, shift-add (Numba).

    Same arguments, checks and result as ``conv2d_naive``. Per chunk of
    images and per group::

        rows (M_z, kh*Cg) @ W (kh*Cg, kw*Fg) = z (M_z, kw*Fg),   M_z = images*H_out*W_z
        y[.., ox, f] = sum_kx z[.., ox*sw + kx*dw - pad_left, kx*Fg + f] + bias[f]   (columns in x)

    Why not a full im2col, cols (M, kh*kw*Cg) @ (kh*kw*Cg, F)? Its product has only F
    columns: single-threaded OpenBLAS ran it at 64 / 81 / 121 GFLOP/s for the benchmark
    shapes (3x3 'same', batch 32, F = 32 / 64 / 128), the (kh*Cg, kw*Fg) product here at
    85 / 116 / 134 GFLOP/s, and rows is kw times smaller than cols. z is computed for each
    input column a window touches (W_z of them, W for stride 1), so column strides sw > 1
    cost about sw times the useful work (``_im2col.use_im2col`` sends those to im2col).
    Forward, one thread, im2col -> this (before chunking): 12.9 -> 9.0, 8.7 -> 7.3, 5.4 ->
    5.2 ms, when z still covered the padding columns too (W + 2 of them for 3x3 'same').
    """
    x, kernel, bias, _, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups)
    return _conv2d_forward(x, kernel, bias, g, groups)[0]


# The unfolded input a layer keeps for its backward (``_conv2d_forward``'s keep) takes up to this
# much, so that the memory kept stays bounded with large batches. Measured, standard
# Fashion-MNIST network, training step with / without keeping (in-model A/B, median per-block
# ratio): batch 32 (rows of 9.6 MB at 28x28x32) 0.93-0.97; batch 64 and 128 (19 and 38 MB,
# all kept) 1.01 and 1.00; batch 256 (77 MB) 1.04 kept without a bound, with this one 0.95-1.05
# over three runs: no gain to show above about 16 MB.
KEEP_MAX_BYTES = 16 << 20


def _conv2d_forward(x, kernel, bias, g, groups, keep=False):
    """conv2d on checked arguments: (y, kept).

    kept is None, or with ``keep=True`` the unfolded input, for ``_conv2d_backward``'s ``kept``:
    ("rows", rows of the whole batch) from the row method, ("im2col", cols^T) from the
    transposed im2col (one input channel), each only up to KEEP_MAX_BYTES. A layer keeps it
    between its forward and its backward, which then skips the unfold.
    """
    if not np.isfinite(kernel).all():
        with np.errstate(invalid="ignore"):
            return _conv2d_by_taps(x, kernel, bias, g, groups), None
    kh, kw, cg, filters = kernel.shape
    x = np.ascontiguousarray(x)  # (N, H, W, C_in)
    if use_im2col(kernel, groups, g):
        keep = keep and g.n * g.out_h * g.out_w * kh * kw * cg * x.itemsize <= KEEP_MAX_BYTES
        y, cols_t = conv2d_im2col(x, kernel, bias, g, _image_chunks(g.n, g.out_h * g.out_w, kh * kw * cg * x.itemsize), keep)
        return y, (None if cols_t is None else ("im2col", cols_t))
    w_z = g.touched_w  # the columns of x that some window touches
    weights = _row_weights(kernel, groups)  # (groups, kh*Cg, kw*Fg)
    bias_or_zero = np.zeros(filters, x.dtype) if bias is None else np.ascontiguousarray(bias)  # (F,)
    y = np.empty((g.n, g.out_h, g.out_w, filters), dtype=x.dtype)  # (N, H_out, W_out, F)
    chunks, max_rows = _chunks(g, kernel, groups, w_z, x.itemsize)
    all_rows = g.n * g.out_h * w_z
    keep = keep and all_rows * groups * kh * cg * x.itemsize <= KEEP_MAX_BYTES
    rows = np.empty((all_rows if keep else max_rows, groups, kh * cg), dtype=x.dtype)  # (M_z, groups, kh*Cg)
    z = np.empty((max_rows, groups, weights.shape[2]), dtype=x.dtype)  # (M_z, groups, kw*Fg), reused per chunk
    for images in chunks:
        m = (images.stop - images.start) * g.out_h * w_z  # rows of this chunk
        first = images.start * g.out_h * w_z if keep else 0  # where they go in rows
        chunk_rows = rows[first : first + m]  # (m, groups, kh*Cg)
        _unfold_rows(chunk_rows, x[images], kh, g.sh, g.dh, g.pad_top, g.out_h, w_z, groups)
        with np.errstate(invalid="ignore"):  # NaN from Inf inputs propagates silently, as in Keras
            for grp in range(groups):
                np.matmul(chunk_rows[:, grp], weights[grp], out=z[:m, grp])  # (m, kw*Fg)
        _shift_add(y[images], z[:m], bias_or_zero, kw, g.sw, g.dw, g.pad_left, w_z, groups)
    return y, (("rows", rows) if keep else None)


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


def _bias_gradient(dy, with_bias):
    """dbias = dy (N, H_out, W_out, F), C-contiguous, summed over its pixels. (F,) or None."""
    return bias_gradient(dy.reshape(-1, dy.shape[3])) if with_bias else None


@numba_kernel
def _spread_dy(dz, dbias_rows, dy, col_taps, w_z, groups):
    """The adjoint of ``_shift_add``: copy each dy back to the kw columns it came from.

    col_taps (W_z, kw): the output column ox with ox*sw + kx*dw - pad_left = j, or -1 (``_taps``)::

        dz[(n*H_out + oy)*W_z + j, grp, kx*Fg + f] = dy[n, oy, col_taps[j, kx], grp*Fg + f]  (0 at -1)
        dbias_rows[n*H_out + oy, f] = sum_ox dy[n, oy, ox, f]

    A gather, prange over r = n*H_out + oy: each dz value is written once, by the
    iteration that owns its row (no zero-filling pass); the bias sums come along.
    """
    n_images, out_h, out_w, filters = dy.shape
    kw = col_taps.shape[1]
    fg = filters // groups
    for r in prange(n_images * out_h):
        n = r // out_h
        oy = r - n * out_h
        for j in range(w_z):
            row = r * w_z + j
            for grp in range(groups):
                for kx in range(kw):
                    ox = col_taps[j, kx]
                    if ox >= 0:
                        for f in range(fg):
                            dz[row, grp, kx * fg + f] = dy[n, oy, ox, grp * fg + f]
                    else:
                        for f in range(fg):
                            dz[row, grp, kx * fg + f] = 0.0
        for f in range(filters):
            dbias_rows[r, f] = 0.0
        for ox in range(out_w):
            for f in range(filters):
                dbias_rows[r, f] += dy[n, oy, ox, f]


@numba_kernel
def _fold_rows(dx, drows, row_taps, out_h, w_z, groups, act, scale, scale_alpha, zero, x, dbx_tiled):
    """The adjoint of ``_unfold_rows``: gather each pixel's gradient from the rows it went to.

    drows (N*H_out*W_z, groups, kh*Cg) = dz @ W^T; row_taps (H, kh): the output row oy
    with oy*sh + ky*dh - pad_top = i, or -1::

        dx[n, i, j, grp*Cg + c] = sum_{ky: oy = row_taps[i, ky] >= 0} drows[(n*H_out + oy)*W_z + j, grp, ky*Cg + c]

    prange over T runs of rows q = n*H + i (T = dbx_tiled.shape[0]): each row of dx (N, H, W,
    C_in) is written by one iteration and nothing else (no races, no zero-filled padded buffer,
    no crop).

    act = 1 (relu) or 2 (selu), when x = act(z + b) is the output of the layer before: each
    finished dx row, still in cache, becomes that layer's dz = dx * act'(x) (act' from x, as
    activations._backward_bias_kernel takes it from y), and dbx_tiled (T, W*C_in), zeroed,
    gets its sums (that layer's dbias, summed over T and the pixels). act = 0: dx as it is.
    """
    n_images, h, w, c_in = dx.shape
    kh = row_taps.shape[1]
    cg = c_in // groups
    n_chunks = dbx_tiled.shape[0]
    n_rows = n_images * h
    for chunk in prange(n_chunks):
        dbx = dbx_tiled[chunk]  # (W*C_in,) with act != 0
        for q in range(chunk * n_rows // n_chunks, (chunk + 1) * n_rows // n_chunks):
            n = q // h
            i = q - n * h
            for j in range(w):
                for ch in range(c_in):
                    dx[n, i, j, ch] = 0.0
                if j >= w_z:  # a column no window reaches (stride > 1 or 'valid' remainder)
                    continue
                for ky in range(kh):
                    oy = row_taps[i, ky]
                    if oy >= 0:
                        row = (n * out_h + oy) * w_z + j
                        for grp in range(groups):
                            for c in range(cg):
                                dx[n, i, j, grp * cg + c] += drows[row, grp, ky * cg + c]
            if act != 0:  # the finished row -> dz of the layer before, and its bias sums
                d, xr = dx[n, i].reshape(w * c_in), x[n, i].reshape(w * c_in)
                for t in range(w * c_in):
                    if act == 2:
                        g = d[t] * (xr[t] + scale_alpha if xr[t] < zero else scale)
                    else:
                        g = d[t] if xr[t] > zero else zero
                    d[t] = g
                    dbx[t] += g


def _taps(size, k, stride, dilation, pad_before, out_size):
    """(size, k) int64: for input position p and kernel offset kk, the output position o
    with o*stride + kk*dilation - pad_before = p, or -1 where there is none."""
    t = np.arange(size)[:, None] + pad_before - np.arange(k)[None, :] * dilation  # (size, k), = o*stride
    return np.where((t >= 0) & (t % stride == 0) & (t // stride < out_size), t // stride, -1)


def conv2d_backward(dy, x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Gradients of ``conv2d``, fast: the forward's matrices, run backwards.

    Same arguments, checks and results as ``conv2d_backward_naive``. With
    ``rows`` and ``W`` as in ``conv2d`` (rows recomputed: no state is kept
    between calls), per chunk of images and per group::

        dz    (M_z, kw*Fg)    = spread(dy)       the adjoint of the shift-add
        dW    (kh*Cg, kw*Fg) += rows^T @ dz      -> dkernel
        drows (M_z, kh*Cg)    = dz @ W^T         -> dx, by folding the rows back
        dbias (F,)            = dy summed over (N, H_out, W_out)

    ``drows`` overwrites ``rows`` once the group's dW product has read it.
    """
    x, kernel, bias, dy, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, dy)
    return _conv2d_backward(dy, x, kernel, bias is not None, g, groups)


def _conv2d_backward(dy, x, kernel, with_bias, g, groups, input_gradient=True, kept=None, activation=None):
    """conv2d_backward on checked arguments: (dx, dkernel, dbias or None).

    input_gradient=False: dx is not computed (returned as None): a network's first layer needs
    only its weight gradients. kept: what ``_conv2d_forward(x, kernel, ..., keep=True)`` returned
    for the same x, or None. activation ('relu' or 'selu', with input_gradient): x is
    activation(z + b) of the layer before, and the result is (dz, dkernel, dbias or None, db)
    with that layer's dz = dx * activation'(x) and db its sums: in the row method's fold while
    each dx row is in cache, else in a pass of its own (``_through``).
    """
    x, dy = np.ascontiguousarray(x), np.ascontiguousarray(dy)  # (N, H, W, C_in), (N, H_out, W_out, F)
    kh, kw, cg, filters = kernel.shape
    activation = activation if input_gradient else None
    if not np.isfinite(kernel).all():
        with np.errstate(invalid="ignore"):
            dx, dkernel = _conv2d_backward_by_taps(dy, x, kernel, g, groups)
        return _through(dx if input_gradient else None, dkernel, _bias_gradient(dy, with_bias), x, activation)
    if use_im2col(kernel, groups, g):
        dbias = _bias_gradient(dy, with_bias)
        chunking = _image_chunks(g.n, g.out_h * g.out_w, kh * kw * cg * x.itemsize)
        cols_t = _kept(kept, "im2col", (kh * kw * cg, g.n * g.out_h * g.out_w))  # (kh*kw, M) or None
        dx, dkernel = conv2d_backward_im2col(dy, x, kernel, g, input_gradient, chunking, cols_t)
        if not np.isfinite(dkernel).all():  # maybe a 0 * Inf from the padding: redo exactly
            with np.errstate(invalid="ignore"):
                dkernel = _conv2d_backward_by_taps(dy, x, kernel, g, groups)[1]
        return _through(dx, dkernel, dbias, x, activation)
    w_z = g.touched_w  # the columns of x that some window touches
    weights = _row_weights(kernel, groups)  # (groups, kh*Cg, kw*Fg)
    col_taps = _taps(w_z, kw, g.sw, g.dw, g.pad_left, g.out_w)  # (W_z, kw): column of x -> output column
    row_taps = _taps(g.h, kh, g.sh, g.dh, g.pad_top, g.out_h)  # (H, kh): input row -> output row
    dx = np.empty(x.shape, dtype=x.dtype) if input_gradient else None  # (N, H, W, C_in)
    dweights = np.zeros(weights.shape, dtype=x.dtype)  # (groups, kh*Cg, kw*Fg)
    product = np.empty(weights.shape[1:], dtype=x.dtype)  # (kh*Cg, kw*Fg), one chunk's share
    dbias_rows = np.empty((g.n * g.out_h, filters), dtype=x.dtype)  # (N*H_out, F)
    chunks, max_rows = _chunks(g, kernel, groups, w_z, x.itemsize)
    all_rows = _kept(kept, "rows", (g.n * g.out_h * w_z, groups, kh * cg))  # the forward's, read only, or None
    rows = np.empty((max_rows, groups, kh * cg), dtype=x.dtype)  # (M_z, groups, kh*Cg): rows, then drows
    dz = np.empty((max_rows, groups, weights.shape[2]), dtype=x.dtype)  # (M_z, groups, kw*Fg)
    act, *constants = activations.derivative_args(activation, x.dtype)  # act 0: no activation
    threads = max(1, min(numba.get_num_threads(), g.n * g.h))
    dbx_tiled = np.zeros((threads, g.w * x.shape[3] if act else 1), dtype=x.dtype)  # (T, W*C_in) with act
    for images in chunks:
        m = (images.stop - images.start) * g.out_h * w_z
        if all_rows is None:
            _unfold_rows(rows[:m], x[images], kh, g.sh, g.dh, g.pad_top, g.out_h, w_z, groups)
            chunk_rows = rows[:m]
        else:
            first = images.start * g.out_h * w_z
            chunk_rows = all_rows[first : first + m]  # (m, groups, kh*Cg)
        out_rows = slice(images.start * g.out_h, images.stop * g.out_h)
        _spread_dy(dz[:m], dbias_rows[out_rows], dy[images], col_taps, w_z, groups)
        with np.errstate(invalid="ignore"):  # a 0 * Inf here is redone below
            for grp in range(groups):
                np.matmul(chunk_rows[:, grp].T, dz[:m, grp], out=product)  # (kh*Cg, kw*Fg)
                dweights[grp] += product
                if input_gradient:
                    np.matmul(dz[:m, grp], weights[grp].T, out=rows[:m, grp])  # drows (m, kh*Cg)
        if input_gradient:
            _fold_rows(dx[images], rows[:m], row_taps, g.out_h, w_z, groups, act, *constants, x[images], dbx_tiled)
    per_group = dweights.reshape(groups, kh, cg, kw, filters // groups)  # (groups, kh, Cg, kw, Fg)
    dkernel = np.ascontiguousarray(per_group.transpose(1, 3, 2, 0, 4)).reshape(kernel.shape)  # (kh, kw, Cg, F)
    if not np.isfinite(dkernel).all():  # maybe a 0 * Inf from the padding or dz's zeros: redo exactly
        with np.errstate(invalid="ignore"):
            dkernel = _conv2d_backward_by_taps(dy, x, kernel, g, groups)[1]
    dbias = dbias_rows.sum(axis=0) if with_bias else None  # (F,)
    if not act:
        return dx, dkernel, dbias
    db = dbx_tiled.reshape(-1, x.shape[3]).sum(axis=0, dtype=np.float64).astype(x.dtype)  # (C_in,)
    return dx, dkernel, dbias, db  # dx holds the layer before's dz


def _kept(kept, path, shape):
    """The array of ``_conv2d_forward``'s kept when it comes from this path, else None; one of
    another shape belongs to another convolution (a caller's mistake: refused)."""
    if kept is None or kept[0] != path:
        return None
    if kept[1].shape != shape:
        raise ValueError(f"kept {path} of shape {kept[1].shape} do not belong to this convolution (expected {shape})")
    return kept[1]


def _through(dx, dkernel, dbias, x, activation):
    """_conv2d_backward's result from a path that computed dx alone: with an activation, its own
    pass turns dx into the layer before's dz and gives that layer's dbias."""
    if activation is None:
        return dx, dkernel, dbias
    dz, db = activations.backward_with_bias(dx, x, activation)
    return dz, dkernel, dbias, db
