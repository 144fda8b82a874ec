"""The tile transforms of Winograd's F(m x m, 3 x 3) (``standard_winograd.py``), as Numba kernels.

Each 2-D transform is two 1-D ones: X Y X^T = X (Y X^T), first along a tile's rows, then
along its columns. The 1-D transforms are written out for m = 2 and m = 4 (``_f2_*``,
``_f4_*``: the matrices of ``standard_winograd.MATRICES`` without their zeros and ones; the
tests check them against the matrices), each output stored once. Every array is seen as rows of
channels, (pixels or points, C), C-contiguous: a 1-D transform maps k rows of src, ``stride``
apart, to the rows of dst, ``step`` apart, all channels at once::

    dst[at + i*step, c] = sum_j X[i, j] src[start + j*stride, c]

so that the loop over c, innermost, is a run of vector instructions: only c changes inside it
(views or flat indices start + c made Numba test for negative indices at every element, and
the loop ran 3 times slower). The kernels keep the layouts
of standard_winograd.py's docstring: V, M (alpha^2, T, C) seen as (alpha^2*T, C), point
xi = a*alpha + b of tile t in row xi*T + t, tiles t = (n*tiles_h + th)*tiles_w + tw.
"""

import numpy as np

from .numba_config import kernel as numba_kernel
from .numba_config import prange
from .numba_config import serial_kernel

# --------------------------------------------------------------------------- 1-D transforms


@serial_kernel
def _constants(a):
    """2, 3, 4, 5 and 8 in a's dtype: with float literals, Numba would compute float32 in float64."""
    t = a.dtype.type
    return t(2.0), t(3.0), t(4.0), t(5.0), t(8.0)


@serial_kernel
def _f2_input(dst, at, step, src, start, stride):
    """B^T d, F(2, 3): 4 rows in, 4 out."""
    for c in range(src.shape[1]):
        d0, d1, d2, d3 = src[start, c], src[start + stride, c], src[start + 2 * stride, c], src[start + 3 * stride, c]
        dst[at, c] = d0 - d2
        dst[at + step, c] = d1 + d2
        dst[at + 2 * step, c] = d2 - d1
        dst[at + 3 * step, c] = d1 - d3


@serial_kernel
def _f4_input(dst, at, step, src, start, stride):
    """B^T d, F(4, 3): 6 rows in, 6 out."""
    two, three, four, five, _ = _constants(dst)
    for c in range(src.shape[1]):
        d0, d1, d2 = src[start, c], src[start + stride, c], src[start + 2 * stride, c]
        d3, d4, d5 = src[start + 3 * stride, c], src[start + 4 * stride, c], src[start + 5 * stride, c]
        dst[at, c] = two * (d0 + d4) - three * (d1 - d3) - four * d2
        dst[at + step, c] = two * (d4 - d1) + d2 + five * d3
        dst[at + 2 * step, c] = two * (d1 + d4) - five * d2 + d3
        dst[at + 3 * step, c] = two * (d3 - d1) - d2 + d4
        dst[at + 4 * step, c] = (d1 - d3) + two * (d4 - d2)
        dst[at + 5 * step, c] = two * (d1 + d5) - three * (d2 - d4) - four * d3


@serial_kernel
def _f2_output(dst, at, step, src, start, stride):
    """A^T m, F(2, 3): 4 rows in, 2 out."""
    for c in range(src.shape[1]):
        m0, m1, m2, m3 = src[start, c], src[start + stride, c], src[start + 2 * stride, c], src[start + 3 * stride, c]
        dst[at, c] = m0 + m1 + m2
        dst[at + step, c] = m1 - m2 - m3


@serial_kernel
def _f4_output(dst, at, step, src, start, stride):
    """A^T m, F(4, 3): 6 rows in, 4 out."""
    two, _, four, _, eight = _constants(dst)
    for c in range(src.shape[1]):
        m0, m1, m2 = src[start, c], src[start + stride, c], src[start + 2 * stride, c]
        m3, m4, m5 = src[start + 3 * stride, c], src[start + 4 * stride, c], src[start + 5 * stride, c]
        total, diff = m1 + m2, m1 - m2
        dst[at, c] = m0 + total + eight * m3 + m4
        dst[at + step, c] = diff + four * m3 - two * m4
        dst[at + 2 * step, c] = total + two * m3 + four * m4
        dst[at + 3 * step, c] = diff + m3 - eight * m4 + m5


@serial_kernel
def _f2_output_adjoint(dst, at, step, src, start, stride):
    """A y (the adjoint of A^T), F(2, 3): 2 rows in, 4 out."""
    for c in range(src.shape[1]):
        y0, y1 = src[start, c], src[start + stride, c]
        dst[at, c] = y0
        dst[at + step, c] = y0 + y1
        dst[at + 2 * step, c] = y0 - y1
        dst[at + 3 * step, c] = -y1


@serial_kernel
def _f4_output_adjoint(dst, at, step, src, start, stride):
    """A y (the adjoint of A^T), F(4, 3): 4 rows in, 6 out."""
    two, _, four, _, eight = _constants(dst)
    for c in range(src.shape[1]):
        y0, y1, y2, y3 = src[start, c], src[start + stride, c], src[start + 2 * stride, c], src[start + 3 * stride, c]
        even, odd = y0 + y2, y1 + y3
        dst[at, c] = y0
        dst[at + step, c] = even + odd
        dst[at + 2 * step, c] = even - odd
        dst[at + 3 * step, c] = eight * y0 + four * y1 + two * y2 + y3
        dst[at + 4 * step, c] = y0 - two * y1 + four * y2 - eight * y3
        dst[at + 5 * step, c] = y3


@serial_kernel
def _f2_input_adjoint(dst, at, step, src, start, stride, add):
    """B v (the adjoint of B^T), F(2, 3): 4 rows in, 4 out; added onto dst's rows when add."""
    for c in range(src.shape[1]):
        v0, v1, v2, v3 = src[start, c], src[start + stride, c], src[start + 2 * stride, c], src[start + 3 * stride, c]
        if add:
            dst[at, c] += v0
            dst[at + step, c] += v1 - v2 + v3
            dst[at + 2 * step, c] += v1 + v2 - v0
            dst[at + 3 * step, c] += -v3
        else:
            dst[at, c] = v0
            dst[at + step, c] = v1 - v2 + v3
            dst[at + 2 * step, c] = v1 + v2 - v0
            dst[at + 3 * step, c] = -v3


@serial_kernel
def _f4_input_adjoint(dst, at, step, src, start, stride, add):
    """B v (the adjoint of B^T), F(4, 3): 6 rows in, 6 out; added onto dst's rows when add."""
    two, three, four, five, _ = _constants(dst)
    for c in range(src.shape[1]):
        v0, v1, v2 = src[start, c], src[start + stride, c], src[start + 2 * stride, c]
        v3, v4, v5 = src[start + 3 * stride, c], src[start + 4 * stride, c], src[start + 5 * stride, c]
        out0 = two * v0
        out1 = two * (v2 + v5 - v1 - v3) - three * v0 + v4
        out2 = v1 - v3 - four * v0 - five * v2 - two * v4 - three * v5
        out3 = three * v0 + five * v1 + v2 + two * v3 - v4 - four * v5
        out4 = two * (v0 + v1 + v2 + v4) + v3 + three * v5
        out5 = two * v5
        if add:
            dst[at, c] += out0
            dst[at + step, c] += out1
            dst[at + 2 * step, c] += out2
            dst[at + 3 * step, c] += out3
            dst[at + 4 * step, c] += out4
            dst[at + 5 * step, c] += out5
        else:
            dst[at, c] = out0
            dst[at + step, c] = out1
            dst[at + 2 * step, c] = out2
            dst[at + 3 * step, c] = out3
            dst[at + 4 * step, c] = out4
            dst[at + 5 * step, c] = out5


@serial_kernel
def _gather_1d(m, gradient, dst, at, step, src, start, stride):
    """B^T d (gradient False) or A y (gradient True), for output tiles of m."""
    if gradient and m == 2:
        _f2_output_adjoint(dst, at, step, src, start, stride)
    elif gradient:
        _f4_output_adjoint(dst, at, step, src, start, stride)
    elif m == 2:
        _f2_input(dst, at, step, src, start, stride)
    else:
        _f4_input(dst, at, step, src, start, stride)


@serial_kernel
def _output_1d(m, dst, at, step, src, start, stride):
    """A^T m for output tiles of m."""
    if m == 2:
        _f2_output(dst, at, step, src, start, stride)
    else:
        _f4_output(dst, at, step, src, start, stride)


@serial_kernel
def _scatter_1d(m, dst, at, step, src, start, stride, add):
    """B v for output tiles of m; added onto dst when add."""
    if m == 2:
        _f2_input_adjoint(dst, at, step, src, start, stride, add)
    else:
        _f4_input_adjoint(dst, at, step, src, start, stride, add)


# --------------------------------------------------------------------------- 2-D kernels

# TYPED_CONSTANTS: the 2-D kernels pass the 1-D ones np.intp(1) and np.bool_(True) rather than
# the literals 1 and True. Numba compiles a jitted callee once per literal value it is passed
# (Literal[int](1), Literal[int](0) and int64 are three signatures), which made a cold start
# compile the eight 1-D transforms 22 times instead of 8.


@numba_kernel
def _gather_tiles(out, src, m, top, left, tiles_h, tiles_w, first_row, gradient):
    """Transform the k x k patch s of every tile: out[:, t] = X s X^T as alpha x alpha points.

    - gradient False: src = x (N, H, W, C), X = B^T, k = alpha: the forward's V, tile (th, tw)'s
      patch at rows th*m - top .. + alpha - 1 and columns tw*m - left .. of x (zeros outside x);
    - gradient True: src = dy (N, H_out, W_out, F), X = A, k = m, top = left = 0: the backward's dM.

    Only the tile rows r = n*tiles_h + th from first_row on, as many as out holds:
    out (alpha^2, rows*tiles_w, C), tile t = (r - first_row)*tiles_w + tw. prange over those tile
    rows, each writing only its own tiles' rows of out. A patch row partly outside src is first
    copied, with zeros, into a buffer; a row wholly outside is a row of zeros.
    """
    n_images, h, w, channels = src.shape
    one, zero = np.intp(1), np.intp(0)  # typed constants (``TYPED_CONSTANTS``)
    alpha = m + 2
    k = m if gradient else alpha  # the patch's side
    n_tiles = out.shape[1]
    pixels = src.reshape(n_images * h * w, channels)  # (N*H*W, C)
    points = out.reshape(alpha * alpha * n_tiles, channels)  # (alpha^2*tiles, C)
    for rr in prange(n_tiles // tiles_w):
        n, th = divmod(first_row + rr, tiles_h)
        half = np.empty((k * alpha, channels), dtype=out.dtype)  # (k*alpha, C): X along each patch row
        row_buffer = np.zeros((k, channels), dtype=out.dtype)  # (k, C): a patch row, zeros outside src
        for tw in range(tiles_w):
            col = tw * m - left  # the patch's first column
            for i in range(k):  # half[i*alpha + b] = sum_j X[b, j] s[i, j]
                row = th * m - top + i
                if row < 0 or row >= h:
                    half[i * alpha : (i + 1) * alpha] = 0.0
                elif col >= 0 and col + k <= w:
                    _gather_1d(m, gradient, half, i * alpha, one, pixels, (n * h + row) * w + col, one)
                else:
                    for j in range(k):
                        if 0 <= col + j < w:
                            row_buffer[j] = pixels[(n * h + row) * w + col + j]
                        else:
                            row_buffer[j] = 0.0
                    _gather_1d(m, gradient, half, i * alpha, one, row_buffer, zero, one)
            t = rr * tiles_w + tw
            for b in range(alpha):  # point a*alpha + b = sum_i X[a, i] half[i*alpha + b]
                _gather_1d(m, gradient, points, b * n_tiles + t, alpha * n_tiles, half, b, alpha)


@numba_kernel
def _output_tiles(y, products, bias, m, tiles_h, tiles_w, first_row):
    """The inverse transform: y's tile (th, tw) = A^T M A + bias, for M = products[:, t] as alpha x alpha.

    y (N, H_out, W_out, F), written in the tile rows r = n*tiles_h + th from first_row on;
    products (alpha^2, rows*tiles_w, F) with t = (r - first_row)*tiles_w + tw; bias (F,). A tile
    that sticks out of y (ragged edges) goes through a buffer, and only its inside is copied.
    prange over the tile rows: the m rows of y each covers are its alone.
    """
    n_images, out_h, out_w, filters = y.shape
    one = np.intp(1)  # a typed constant (``TYPED_CONSTANTS``)
    alpha = m + 2
    n_tiles = products.shape[1]
    pixels = y.reshape(n_images * out_h * out_w, filters)  # (N*H_out*W_out, F)
    points = products.reshape(alpha * alpha * n_tiles, filters)  # (alpha^2*tiles, F)
    for rr in prange(n_tiles // tiles_w):
        n, th = divmod(first_row + rr, tiles_h)
        half = np.empty((alpha * m, filters), dtype=y.dtype)  # (alpha*m, F): M A
        tile = np.empty((m * m, filters), dtype=y.dtype)  # (m*m, F): a tile sticking out of y
        rows = min(m, out_h - th * m)
        for tw in range(tiles_w):
            t = rr * tiles_w + tw
            cols = min(m, out_w - tw * m)
            for a in range(alpha):  # half[a*m + q] = sum_b M[a, b] A[b, q]
                _output_1d(m, half, a * m, one, points, a * alpha * n_tiles + t, n_tiles)
            first = (n * out_h + th * m) * out_w + tw * m  # the tile's first pixel
            whole = rows == m and cols == m
            for q in range(m):  # tile column q = A^T half[:, q]
                if whole:
                    _output_1d(m, pixels, first + q, out_w, half, q, m)
                else:
                    _output_1d(m, tile, q, m, half, q, m)
            for p in range(rows):
                for q in range(cols):
                    pixel = first + p * out_w + q
                    for f in range(filters):
                        pixels[pixel, f] = (pixels[pixel, f] if whole else tile[p * m + q, f]) + bias[f]


@numba_kernel
def _scatter_tiles(dx, dv, m, top, left, tiles_h, tiles_w, first_row):
    """The adjoint of ``_gather_tiles`` on x: dx += B dV B^T of each tile, on its alpha x alpha
    patch of x (rows th*m - top + i, columns tw*m - left + j, the part inside x).

    dx (N, H, W, C), added to; dv (alpha^2, rows*tiles_w, C) for the tile rows r = n*tiles_h + th
    from first_row on, t = (r - first_row)*tiles_w + tw. Patches overlap, so the tile rows go in
    two passes, even th then odd th: two tile rows of one pass never touch the same row of x
    (alpha <= 2m), and prange over them has no races. A patch that sticks out of x goes through a
    buffer, and only its inside is added.
    """
    n_images, h, w, channels = dx.shape
    one, yes, no = np.intp(1), np.bool_(True), np.bool_(False)  # typed constants (``TYPED_CONSTANTS``)
    alpha = m + 2
    n_tiles = dv.shape[1]
    pixels = dx.reshape(n_images * h * w, channels)  # (N*H*W, C)
    points = dv.reshape(alpha * alpha * n_tiles, channels)  # (alpha^2*tiles, C)
    for parity in range(2):
        for rr in prange(n_tiles // tiles_w):
            n, th = divmod(first_row + rr, tiles_h)
            if th % 2 != parity:
                continue
            row0 = th * m - top  # the patches' first row in x
            half = np.empty((alpha * alpha, channels), dtype=dx.dtype)  # (alpha*alpha, C): dV B^T
            patch = np.empty((alpha * alpha, channels), dtype=dx.dtype)  # (alpha*alpha, C): a patch sticking out
            for tw in range(tiles_w):
                t = rr * tiles_w + tw
                col0 = tw * m - left
                for a in range(alpha):  # half[a*alpha + j] = sum_b dV[a, b] B^T[b, j]
                    _scatter_1d(m, half, a * alpha, one, points, a * alpha * n_tiles + t, n_tiles, no)
                first = (n * h + row0) * w + col0  # the patch's first pixel (if inside x)
                if row0 >= 0 and row0 + alpha <= h and col0 >= 0 and col0 + alpha <= w:
                    for j in range(alpha):  # patch column j += B half[:, j]
                        _scatter_1d(m, pixels, first + j, w, half, j, alpha, yes)
                    continue
                for j in range(alpha):
                    _scatter_1d(m, patch, j, alpha, half, j, alpha, no)
                for i in range(max(0, -row0), min(alpha, h - row0)):
                    for j in range(max(0, -col0), min(alpha, w - col0)):
                        for c in range(channels):
                            pixels[first + i * w + j, c] += patch[i * alpha + j, c]


# --------------------------------------------------------------------------- filter transforms


@serial_kernel
def _filter_transform(u, kernel, gm):
    """U = G g G^T for every input channel and filter, accumulated in float64 (gm is float64).

    u (alpha^2, groups, Cg, Fg) written, point a*alpha + b; kernel (3, 3, Cg, F) with filter
    f = grp*Fg + fo; gm = G (alpha, 3). Serial: 0.1-0.4 ms up to 128x128 channels, and it compiles faster.
    """
    alpha = gm.shape[0]
    _, groups, cg, fg = u.shape
    for c in range(cg):
        half = np.empty((alpha, 3, fg))  # (alpha, 3, Fg), float64: G g
        for grp in range(groups):
            half[:] = 0.0
            for a in range(alpha):
                for i in range(3):
                    for j in range(3):
                        taps = kernel[i, j, c, grp * fg : (grp + 1) * fg]  # (Fg,)
                        for f in range(fg):
                            half[a, j, f] += gm[a, i] * taps[f]
            for a in range(alpha):
                for b in range(alpha):
                    point = u[a * alpha + b, grp, c]  # (Fg,)
                    for f in range(fg):
                        point[f] = half[a, 0, f] * gm[b, 0] + half[a, 1, f] * gm[b, 1] + half[a, 2, f] * gm[b, 2]


@serial_kernel
def _filter_gradient(dkernel, du, gm):
    """dkernel = G^T dU G for every input channel and filter, accumulated in float64 (the adjoint
    of ``_filter_transform``).

    dkernel (3, 3, Cg, F) written; du (alpha^2, groups, Cg, Fg); gm = G (alpha, 3), float64. Serial.
    """
    alpha = gm.shape[0]
    _, groups, cg, fg = du.shape
    for c in range(cg):
        half = np.empty((3, alpha, fg))  # (3, alpha, Fg), float64: G^T dU
        total = np.empty(fg)  # (Fg,), float64: one tap of G^T dU G
        for grp in range(groups):
            half[:] = 0.0
            for a in range(alpha):
                for b in range(alpha):
                    point = du[a * alpha + b, grp, c]  # (Fg,)
                    for i in range(3):
                        for f in range(fg):
                            half[i, b, f] += gm[a, i] * point[f]
            for i in range(3):
                for j in range(3):
                    total[:] = 0.0
                    for b in range(alpha):
                        for f in range(fg):
                            total[f] += half[i, b, f] * gm[b, j]
                    taps = dkernel[i, j, c, grp * fg : (grp + 1) * fg]  # (Fg,)
                    for f in range(fg):
                        taps[f] = total[f]
