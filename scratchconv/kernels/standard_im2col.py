"""conv2d for layers with few input channels or column strides: a full im2col, then one BLAS product.

``standard.py``'s row method unfolds kh input rows and multiplies by a (kh*Cg, kw*Fg) matrix
at every input column. When a layer has few input channels for its filters (kh*kw*Cg <
kw*Fg, like a network's first layer: 1 channel in, 32 out), a full im2col matrix is the
narrower one; with column strides, the row method would compute columns no window starts
at. ``conv2d`` sends such layers here (groups == 1; ``use_im2col``). Every window becomes one
row of cols, its kh*kw pixels in (ky, kx) order, each C_in values (3x3, padding read as 0)::

    window under output (oy, ox)     row (n*H_out + oy)*W_out + ox of cols
        p1 p2 p3
        p4 p5 p6            ->       [ p1 p2 p3 p4 p5 p6 p7 p8 p9 ]      (kh*kw*C_in values)
        p7 p8 p9

    cols (M, kh*kw*C_in) @ K (kh*kw*C_in, F) = y (M, F),    M = N*H_out*W_out
    backward: dK = cols^T @ dy,  dcols = dy @ K^T, each value added back onto the pixel it
    was copied from (_fold, the adjoint of the unfold)

With one input channel the windows are stored transposed, cols^T (kh*kw, M): one row per
kernel tap, one column per output pixel. For output row oy, tap (ky, kx)'s stretch is input
row oy*sh + ky*dh - pad_top read from column kx*dw - pad_left on, every sw-th pixel: at stride
1 a contiguous run, copied with vector moves where a row of cols gathers 9 scattered values
(W = 5, 3x3 'same', stride 1)::

                               ox:   0   1   2   3   4
    cols^T row of tap (ky, 0):       0  x0  x1  x2  x3      x = input row oy - 1 + ky
    cols^T row of tap (ky, 1):      x0  x1  x2  x3  x4
    cols^T row of tap (ky, 2):      x1  x2  x3  x4   0

BLAS reads cols^T untransposed for dK = cols^T @ dy, and the backward's dcols^T = K @ dy^T
goes back through _fold_t. With 3 channels the transposed layout was slower, so only C_in = 1
takes it (docs/performance.md).

Padding zeros are multiplied here; ``standard.py`` sends non-finite kernels elsewhere first.
"""

import numpy as np

from .numba_config import kernel as numba_kernel
from .numba_config import prange
from .pointwise import _add_bias, weight_gradient


@numba_kernel
def _unfold(cols, x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w):
    """Full im2col, for few input channels (see ``use_im2col``): every window as one row.

    cols (N*H_out*W_out, kh*kw*C_in) from the unpadded x (N, H, W, C_in)::

        cols[(n*H_out + oy)*W_out + ox, (ky*kw + kx)*C_in + c] = xp[n, oy*sh + ky*dh, ox*sw + kx*dw, c]

    prange over r = n*H_out + oy, whose W_out rows only this iteration writes.
    """
    n_images, h, w, c_in = x.shape
    for r in prange(n_images * out_h):
        n = r // out_h
        oy = r - n * out_h
        for ox in range(out_w):
            row = r * out_w + ox
            for ky in range(kh):
                i = oy * sh + ky * dh - pad_top  # row in x
                for kx in range(kw):
                    j = ox * sw + kx * dw - pad_left  # column in x
                    first = (ky * kw + kx) * c_in
                    if 0 <= i < h and 0 <= j < w:
                        for c in range(c_in):
                            cols[row, first + c] = x[n, i, j, c]
                    else:
                        for c in range(c_in):
                            cols[row, first + c] = 0.0


@numba_kernel
def _fold(dx, dcols, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w):
    """The adjoint of ``_unfold``: add each window row of dcols back onto the pixels it came from.

    dx (N, H, W, C_in) is written; dcols (N*H_out*W_out, kh*kw*C_in) = dy @ K^T::

        dx[n, i, j, c] = sum of dcols[(n*H_out + oy)*W_out + ox, (ky*kw + kx)*C_in + c]
                         over the (oy, ox, ky, kx) with oy*sh + ky*dh - pad_top = i, ox*sw + kx*dw - pad_left = j

    prange over the images: image n's windows only touch dx[n], so the scatter never races.
    """
    n_images, h, w, c_in = dx.shape
    for n in prange(n_images):
        dx[n] = 0.0
        for oy in range(out_h):
            for ox in range(out_w):
                row = (n * out_h + oy) * out_w + ox
                for ky in range(kh):
                    i = oy * sh + ky * dh - pad_top
                    if i < 0 or i >= h:
                        continue
                    for kx in range(kw):
                        j = ox * sw + kx * dw - pad_left
                        if 0 <= j < w:
                            first = (ky * kw + kx) * c_in
                            for c in range(c_in):
                                dx[n, i, j, c] += dcols[row, first + c]


@numba_kernel
def _unfold_t(cols_t, x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w):
    """``_unfold`` transposed: cols_t (kh*kw*C_in, N*H_out*W_out), one row per kernel tap::

        cols_t[(ky*kw + kx)*C_in + c, (n*H_out + oy)*W_out + ox] = xp[n, oy*sh + ky*dh, ox*sw + kx*dw, c]

    prange over the images; per tap, image n's stretch of the tap's row, one output row at a
    time: the output columns ox in [lo, hi) read inside x (ox*sw + kx*dw - pad_left in [0, W)),
    the ones outside, and whole rows outside x, get 0. (This loop order was faster than a
    prange over the output rows, each visiting every tap: docs/performance.md.)
    """
    n_images, h, w, c_in = x.shape
    per_image = out_h * out_w  # columns of cols_t per image
    for n in prange(n_images):
        for ky in range(kh):
            for kx in range(kw):
                offset = kx * dw - pad_left  # column in x = ox*sw + offset
                lo = min(out_w, max(0, (sw - 1 - offset) // sw))  # first ox with ox*sw + offset >= 0
                hi = max(lo, min(out_w, (w - offset + sw - 1) // sw))  # first ox with ox*sw + offset >= W
                for c in range(c_in):
                    tap = (ky * kw + kx) * c_in + c  # row of cols_t
                    for oy in range(out_h):
                        i = oy * sh + ky * dh - pad_top  # row in x
                        first = n * per_image + oy * out_w  # this output row's first column
                        if i < 0 or i >= h:
                            for ox in range(out_w):
                                cols_t[tap, first + ox] = 0.0
                            continue
                        for ox in range(lo):
                            cols_t[tap, first + ox] = 0.0
                        for ox in range(lo, hi):
                            cols_t[tap, first + ox] = x[n, i, ox * sw + offset, c]
                        for ox in range(hi, out_w):
                            cols_t[tap, first + ox] = 0.0


@numba_kernel
def _fold_t(dx, dcols_t, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w):
    """The adjoint of ``_unfold_t``: dx (N, H, W, C_in) written from dcols_t (kh*kw*C_in, M) = K @ dy^T,
    each window's value added back onto its pixel. prange over the images (no races)."""
    n_images, h, w, c_in = dx.shape
    for n in prange(n_images):
        dx[n] = 0.0
        for oy in range(out_h):
            first = (n * out_h + oy) * out_w
            for ky in range(kh):
                i = oy * sh + ky * dh - pad_top
                if i < 0 or i >= h:
                    continue
                for kx in range(kw):
                    offset = kx * dw - pad_left
                    lo = min(out_w, max(0, (sw - 1 - offset) // sw))
                    hi = max(lo, min(out_w, (w - offset + sw - 1) // sw))
                    for c in range(c_in):
                        row = dcols_t[(ky * kw + kx) * c_in + c, first : first + out_w]
                        for ox in range(lo, hi):
                            dx[n, i, ox * sw + offset, c] += row[ox]


def use_im2col(kernel, groups, g):
    """Full im2col (groups == 1) when it does less work than the row method. Two cases:

    - Few input channels for the filters, kh*kw*Cg < kw*Fg, like a network's first layer (1
      channel in, 32 out: cols 9 values wide, the row method's z 96 wide and its product only 3
      deep).
    - Column strides: the row method computes z for every column of x that a window touches,
      W_z = ``g.touched_w`` (W for stride 1), about sw times the W_out that im2col computes;
      above W_z > WASTE * W_out im2col is faster though its product has only F columns. At
      stride 1 the row method was as fast or faster.

    g is the window Geometry. The timings behind both rules are in docs/performance.md.
    """
    kh, kw, cg, filters = kernel.shape
    return groups == 1 and (kh * kw * cg < kw * filters or g.touched_w > WASTE * g.out_w)


WASTE = 1.2  # see use_im2col


def conv2d_im2col(x, kernel, bias, g, chunking, keep=False):
    """(y, kept): y = cols @ K + bias, chunk by chunk: cols (M, kh*kw*C_in), K (kh*kw*C_in, F). (groups == 1)

    chunking: (image ranges, windows in the largest), from standard_rows._image_chunks. keep: with
    one input channel, unfold the whole batch at once and return cols^T (kh*kw, M) as kept,
    for ``conv2d_backward_im2col``; else kept is None.
    """
    kh, kw, c_in, filters = kernel.shape
    k2 = np.ascontiguousarray(kernel).reshape(kh * kw * c_in, filters)  # (kh*kw*C_in, F)
    y = np.empty((g.n, g.out_h, g.out_w, filters), dtype=x.dtype)  # (N, H_out, W_out, F)
    keep = keep and c_in == 1
    chunks, max_rows = ([slice(0, g.n)], g.n * g.out_h * g.out_w) if keep else chunking
    depth = k2.shape[0]
    buffer = np.empty(max_rows * depth, dtype=x.dtype)  # cols or cols^T, reused per chunk
    window = (kh, kw, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left, g.out_h, g.out_w)
    for images in chunks:
        m = (images.stop - images.start) * g.out_h * g.out_w
        out = y[images].reshape(m, filters)  # (m, F), a view: y's chunk is contiguous
        if c_in == 1:
            cols_t = buffer[: depth * m].reshape(depth, m)  # (kh*kw, m)
            _unfold_t(cols_t, x[images], *window)
            cols = cols_t.T  # (m, kh*kw), a view
        else:
            cols = buffer[: m * depth].reshape(m, depth)  # (m, kh*kw*C_in)
            _unfold(cols, x[images], *window)
        with np.errstate(invalid="ignore"):
            np.matmul(cols, k2, out=out)
        if bias is not None:
            _add_bias(out, bias)
    return y, (buffer.reshape(depth, -1) if keep else None)


def conv2d_backward_im2col(dy, x, kernel, g, input_gradient, chunking, kept=None):
    """(dx or None, dkernel) with the forward's cols: dK = cols^T @ dy, dcols = dy @ K^T, folded into dx.

    kept: cols^T (kh*kw, M) of the whole batch from ``conv2d_im2col(..., keep=True)`` on the same
    x, one input channel (read only: dcols^T then gets a buffer of its own), or None to unfold again.
    """
    kh, kw, c_in, filters = kernel.shape
    k2 = np.ascontiguousarray(kernel).reshape(kh * kw * c_in, filters)  # (kh*kw*C_in, F)
    dk2 = np.zeros(k2.shape, dtype=x.dtype)  # (kh*kw*C_in, F)
    dx = np.empty(x.shape, dtype=x.dtype) if input_gradient else None  # (N, H, W, C_in)
    chunks, max_rows = ([slice(0, g.n)], g.n * g.out_h * g.out_w) if kept is not None else chunking
    depth = k2.shape[0]
    buffer = np.empty(max_rows * depth, dtype=x.dtype) if kept is None or input_gradient else None  # cols or cols^T, then dcols, reused per chunk
    window = (kh, kw, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left, g.out_h, g.out_w)
    for images in chunks:
        m = (images.stop - images.start) * g.out_h * g.out_w
        grads = dy[images].reshape(m, filters)  # (m, F)
        if c_in == 1 and kept is not None:
            cols_t = kept  # (kh*kw, M), one chunk
        elif c_in == 1:
            cols_t = buffer[: depth * m].reshape(depth, m)  # (kh*kw, m)
            _unfold_t(cols_t, x[images], *window)
        else:
            cols = buffer[: m * depth].reshape(m, depth)  # (m, kh*kw*C_in)
            _unfold(cols, x[images], *window)
            cols_t = cols.T  # a view
        with np.errstate(invalid="ignore"):  # a 0 * Inf here is redone by the caller
            dk2 += weight_gradient(cols_t.T, grads, images.stop - images.start)  # (kh*kw*C_in, F)
            if input_gradient and c_in == 1:
                cols_t = np.matmul(k2, grads.T, out=buffer[: depth * m].reshape(depth, m))  # dcols^T (kh*kw, m)
            elif input_gradient:
                np.matmul(grads, k2.T, out=cols)  # dcols (m, kh*kw*C_in)
        if input_gradient:
            if c_in == 1:
                _fold_t(dx[images], cols_t, *window)
            else:
                _fold(dx[images], cols, *window)
    return dx, dk2.reshape(kernel.shape)
