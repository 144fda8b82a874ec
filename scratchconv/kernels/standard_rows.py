"""conv2d's row method: unfold the rows, one BLAS product per group, shift the columns.

im2col along the rows and kn2row along the columns (compare MEC, Cho & Brand 2017). Three
steps, drawn for a 3x3 'same' kernel at stride 1, one image and one group; an entry of x or
rows is Cg values, one of z or y Fg values, and W is the kernel as a (kh*Cg, kw*Fg) matrix,
W[ky*Cg + c, kx*Fg + f] = kernel[ky, kx, c, f]::

    1. unfold (_unfold_rows): for output row oy and input column j, the kh input pixels of
       column j that the window rows cover, stacked (rows of padding are zeros):
           rows[oy, j] = [ x[oy-1, j] | x[oy, j] | x[oy+1, j] ]               (kh*Cg values)
    2. product (BLAS, one per group): z = rows @ W, kw blocks per column j:
           z[oy, j]    = [ z_0 | z_1 | z_2 ]     z_kx: column j's share of a window whose
                                                 tap column kx lies on column j
    3. shift and add (_shift_add): output ox takes block kx from column j = ox + kx - 1:
           y[oy, ox]   = z[oy, ox-1]_0 + z[oy, ox]_1 + z[oy, ox+1]_2 + bias  (j outside x: skipped)

The unfolded copy is kh times the input (im2col's is kh*kw times). z is computed for each
input column some window touches (W_z of them, W at stride 1), so column strides cost about sw
times the useful work: ``standard_im2col.use_im2col`` sends those to the full im2col.

The backward runs the same steps transposed, in reverse order (each step's adjoint)::

    3'. spread (_spread_dy): dz[oy, j]_kx = dy[oy, ox] for the ox with j = ox + kx - 1, else 0
    2'. products:            dW += rows^T @ dz  (-> dkernel);   drows = dz @ W^T
    1'. fold (_fold_rows):   dx[i, j] = sum over (oy, ky) with i = oy + ky - 1 of block ky of
                             drows[oy, j]                        (a gather: no races)
"""

import numba
import numpy as np

from . import activations
from .numba_config import kernel as numba_kernel
from .numba_config import prange


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
# CHUNK_BYTES each) stay in the cores' L2 caches from the unfold through the BLAS product
# to the shift-add; each product keeps >= CHUNK_MIN_ROWS rows so that BLAS still gets tall
# matrices. Chunks were faster than the whole batch at once, and 4 MiB than 1 or 16 MiB
# (docs/performance.md).
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

    The unfold copied input row i into up to kh rows (output row oy, block ky); the fold adds
    those copies' gradients back (3x3, stride 1: row i was block 2 of output row i-1, block 1
    of row i, block 0 of row i+1). It is a gather, not a scatter: prange over T runs of rows
    q = n*H + i (T = dbx_tiled.shape[0]), each row of dx (N, H, W, C_in) written by one
    iteration and nothing else (no races, no zero-filled padded buffer, no crop).

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
                dx_row, x_row = dx[n, i].reshape(w * c_in), x[n, i].reshape(w * c_in)
                for t in range(w * c_in):
                    if act == 2:
                        grad = dx_row[t] * (x_row[t] + scale_alpha if x_row[t] < zero else scale)
                    else:
                        grad = dx_row[t] if x_row[t] > zero else zero
                    dx_row[t] = grad
                    dbx[t] += grad


def _taps(size, k, stride, dilation, pad_before, out_size):
    """(size, k) int64: for input position p and kernel offset kk, the output position o
    with o*stride + kk*dilation - pad_before = p, or -1 where there is none."""
    t = np.arange(size)[:, None] + pad_before - np.arange(k)[None, :] * dilation  # (size, k), = o*stride
    return np.where((t >= 0) & (t % stride == 0) & (t // stride < out_size), t // stride, -1)


def conv2d_rows(x, kernel, bias, g, groups, keep=False):
    """conv2d by the row method on checked arguments (x C-contiguous, kernel finite): (y, rows or None).

    Per chunk of images and per group::

        rows (M_z, kh*Cg) @ W (kh*Cg, kw*Fg) = z (M_z, kw*Fg),   M_z = images*H_out*W_z
        y[.., ox, f] = sum_kx z[.., ox*sw + kx*dw - pad_left, kx*Fg + f] + bias[f]   (columns in x)

    keep=True: the rows of the whole batch are returned for ``conv2d_backward_rows``'s kept
    (the caller bounds their size).
    """
    kh, kw, cg, filters = kernel.shape
    w_z = g.touched_w  # the columns of x that some window touches
    weights = _row_weights(kernel, groups)  # (groups, kh*Cg, kw*Fg)
    bias_or_zero = np.zeros(filters, x.dtype) if bias is None else np.ascontiguousarray(bias)  # (F,)
    y = np.empty((g.n, g.out_h, g.out_w, filters), dtype=x.dtype)  # (N, H_out, W_out, F)
    chunks, max_rows = _chunks(g, kernel, groups, w_z, x.itemsize)
    all_rows = g.n * g.out_h * w_z
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
    return y, (rows if keep else None)


def conv2d_backward_rows(dy, x, kernel, with_bias, g, groups, input_gradient=True, all_rows=None, activation=None):
    """conv2d_backward by the row method on checked arguments (x, dy C-contiguous, kernel finite).

    The forward's matrices, run backwards, per chunk of images and per group::

        dz    (M_z, kw*Fg)    = spread(dy)       the adjoint of the shift-add
        dW    (kh*Cg, kw*Fg) += rows^T @ dz      -> dkernel
        drows (M_z, kh*Cg)    = dz @ W^T         -> dx, by folding the rows back
        dbias (F,)            = dy summed over (N, H_out, W_out)

    ``drows`` overwrites ``rows`` once the group's dW product has read it. all_rows: the rows
    ``conv2d_rows(keep=True)`` returned for this x (read only), or None to unfold them again.
    Returns (dx or None, dkernel, dbias or None), and with activation ('relu'/'selu') also db:
    dx is then the layer before's dz = dx * act'(x), folded while each dx row is in cache.
    A dkernel that came out non-finite (0 * Inf) is the caller's to redo.
    """
    kh, kw, cg, filters = kernel.shape
    w_z = g.touched_w  # the columns of x that some window touches
    weights = _row_weights(kernel, groups)  # (groups, kh*Cg, kw*Fg)
    col_taps = _taps(w_z, kw, g.sw, g.dw, g.pad_left, g.out_w)  # (W_z, kw): column of x -> output column
    row_taps = _taps(g.h, kh, g.sh, g.dh, g.pad_top, g.out_h)  # (H, kh): input row -> output row
    dx = np.empty(x.shape, dtype=x.dtype) if input_gradient else None  # (N, H, W, C_in)
    dweights = np.zeros(weights.shape, dtype=x.dtype)  # (groups, kh*Cg, kw*Fg)
    product = np.empty(weights.shape[1:], dtype=x.dtype)  # (kh*Cg, kw*Fg), one chunk's share
    dbias_rows = np.empty((g.n * g.out_h, filters), dtype=x.dtype)  # (N*H_out, F)
    chunks, max_rows = _chunks(g, kernel, groups, w_z, x.itemsize)
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
    dbias = dbias_rows.sum(axis=0) if with_bias else None  # (F,)
    if not act:
        return dx, dkernel, dbias
    db = dbx_tiled.reshape(-1, x.shape[3]).sum(axis=0, dtype=np.float64).astype(x.dtype)  # (C_in,)
    return dx, dkernel, dbias, db  # dx holds the layer before's dz
