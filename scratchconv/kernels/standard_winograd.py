"""conv2d by Winograd's minimal filtering (Lavin & Gray 2016), for 3x3 kernels at stride 1.

F(m, 3) in one dimension: m outputs of a 3-tap correlation from alpha = m + 2 inputs with
alpha multiplications instead of 3m. For F(2, 3), inputs d0..d3, filter g0..g2::

    y0 = d0 g0 + d1 g1 + d2 g2        m1 = (d0 - d2) g0                  y0 = m1 + m2 + m3
    y1 = d1 g0 + d2 g1 + d3 g2        m2 = (d1 + d2) (g0 + g1 + g2) / 2  y1 = m2 - m3 - m4
                                      m3 = (d2 - d1) (g0 - g1 + g2) / 2
                                      m4 = (d1 - d3) g2

(expand m2 - m3 = d1 (g0 + g2) + d2 g1 and m2 + m3 = d2 (g0 + g2) + d1 g1 to check). As
matrices, y = A^T [(G g) * (B^T d)]: B^T (alpha, alpha) transforms the input, G (alpha, 3)
the filter, * is elementwise and A^T (m, alpha) maps the alpha products back (``MATRICES``).
Nesting the 1-D algorithm gives F(m x m, 3 x 3): an m x m output tile from an alpha x alpha
input tile d (tiles overlap by 2), with U = G g G^T and V = B^T d B::

    Y = A^T [U * V] A,   and summed over the input channels c:   M[xi] = sum_c V[xi, c] U[xi, c, f]

so for each of the alpha^2 points xi the channel sums are one matrix product over all tiles,
M[xi] (T, F) = V[xi] (T, C) @ U[xi] (C, F): conv2d becomes alpha^2 BLAS products of
alpha^2 / (9 m^2) of the direct method's multiply-adds (F(2x2): 16/36, F(4x4): 36/144),
plus the tile transforms. The larger tile saves more, but its larger matrix entries (5, 8,
1/15) cost float32 accuracy (``MATRICES``; ``winograd_tile`` picks the tile).

Layouts: x (N, H, W, C_in) NHWC, kernel (3, 3, C_in // groups, F) as Keras; tiles numbered
t = (n*tiles_h + th)*tiles_w + tw; V (alpha^2, T, C_in), U (alpha^2, groups, Cg, Fg),
M (alpha^2, T, F). Tiles past the output's edge read zeros and their outputs are dropped.

Memory: V holds alpha^2 / m^2 values per output pixel and input channel, 4 times the input
for F(2x2) and 2.25 times for F(4x4) (more with ragged tiles). The tiles go a chunk of tile
rows at a time through scratch buffers of about CHUNK_BYTES (V, M, and dV in the backward),
kept per thread (``release_scratch`` frees them); keep=True keeps the V of the whole batch for
the backward, up to KEEP_MAX_BYTES.

Non-finite x: the transforms add and subtract pixels, so an Inf can become NaN (Inf - Inf)
where the direct sum gives +-Inf, and a NaN or Inf spreads to its whole output tile.
Kernels with Inf or NaN must go to another method (``standard.py`` sends them to the taps).

The backward pass is in ``standard_winograd_backward.py``.
"""

import threading

import numba
import numpy as np

from . import blas
from .arguments import check_conv2d_args, pad_input
from .standard_winograd_fused import FUSED_MIN_CHANNEL_SUM, FUSED_MIN_CHANNELS, FUSED_MIN_OUTPUTS, _forward_fused, fused_chunks
from .standard_winograd_transforms import _filter_gradient, _filter_transform, _gather_tiles, _output_tiles

# B^T (alpha, alpha), G (alpha, 3), A^T (m, alpha) for output tiles of m = 2 and 4. F(2, 3) is
# Lavin & Gray's (points 0, 1, -1 and infinity). For F(4, 3) their points 0, +-1, +-2 gave float32
# errors up to 1.7e-5 of the output's scale at 32x32x128 (batch 64), over the 1e-5 the tests
# allow; the points 0, 1, -1, 1/2, -2 (Barabasz et al. 2020) give 4.2e-6 there (forward; dx
# 2.3e-6, dkernel 2.1e-6; F(2x2): 5.8e-7). Rows of B^T and G and columns of A^T are scaled by
# powers of 2 (exact in floating point) to make B^T and A^T integer.
MATRICES = {
    2: (
        np.array([[1, 0, -1, 0],
                  [0, 1, 1, 0],
                  [0, -1, 1, 0],
                  [0, 1, 0, -1]], dtype=np.float64),
        np.array([[1, 0, 0],
                  [1 / 2, 1 / 2, 1 / 2],
                  [1 / 2, -1 / 2, 1 / 2],
                  [0, 0, 1]], dtype=np.float64),
        np.array([[1, 1, 1, 0],
                  [0, 1, -1, -1]], dtype=np.float64),
    ),
    4: (
        np.array([[2, -3, -4, 3, 2, 0],
                  [0, -2, 1, 5, 2, 0],
                  [0, 2, -5, 1, 2, 0],
                  [0, -2, -1, 2, 1, 0],
                  [0, 1, -2, -1, 2, 0],
                  [0, 2, -3, -4, 3, 2]], dtype=np.float64),
        np.array([[1 / 2, 0, 0],
                  [1 / 6, 1 / 6, 1 / 6],
                  [-1 / 6, 1 / 6, -1 / 6],
                  [-2 / 15, -1 / 15, -1 / 30],
                  [1 / 30, -1 / 15, 2 / 15],
                  [0, 0, 1 / 2]], dtype=np.float64),
        np.array([[1, 1, 1, 8, 1, 0],
                  [0, 1, -1, 4, -2, 0],
                  [0, 1, 1, 2, 4, 0],
                  [0, 1, -1, 1, -8, 1]], dtype=np.float64),
    ),
}


def winograd_applies(kernel, groups, g):
    """Whether conv2d_winograd computes this convolution: a 3x3 kernel at stride 1, dilation 1.

    Any padding, groups, float32/float64; the kernel must also be finite (the caller's check).
    """
    return kernel.shape[:2] == (3, 3) and (g.sh, g.sw, g.dh, g.dw) == (1, 1, 1, 1)


# F(4x4) up to this many input channels per group and filters: its float32 error grows with the
# sums over them. Measured (float32 against float64, max error / max |reference|, random normal
# data, batch 64, 3x3 'same'), F(4x4) forward / dx / dkernel: 28x28x32 1.9e-6 / 1.2e-6 / 2.5e-6,
# 64x64x64 2.8e-6 / 1.7e-6 / 3.0e-6, 32x32x128 4.2e-6 / 2.3e-6 / 2.1e-6 (the tests allow 1e-5);
# F(2x2) at most 7.1e-7, the row method 4.4e-7. Beyond 128 channels nothing was measured: F(2x2).
F4_MAX_CHANNELS = 128


def winograd_tile(kernel, groups, g):
    """The output tile m: 4 (F(4x4, 3x3), 36 products for 16 outputs) up to F4_MAX_CHANNELS
    input channels per group and filters, else 2 (F(2x2, 3x3), 16 products for 4 outputs)."""
    _, _, cg, filters = kernel.shape
    return 4 if max(cg, filters // groups) <= F4_MAX_CHANNELS else 2


# When Winograd is faster than the row method (standard_rows.py). Measured on 2 vCPUs, float32,
# 3x3 'same', forward / forward+backward (all gradients, the input kept), ms, median of 40
# (batch 32) or 5 (batch 64) interleaved runs, F(4x4):
#
#     shape, batch          rows            F(2x2)          F(4x4)          TensorFlow
#     28x28x32 -> 32, 32    3.7 / 10.1      4.2 / 11.6      4.5 / 10.5      2.8 / 4.3
#     14x14x64 -> 64, 32    2.8 / 8.1       2.6 / 6.8       2.8 / 7.5       2.5 / 4.1
#     7x7x128 -> 128, 32    2.6 / 7.6       2.6 / 7.3       2.6 / 7.3       2.6 / 4.5
#     32x32x128 -> 128, 64  106 / 319       66 / 224        50 / 139        48 / 97
#     64x64x64 -> 64, 64    126 / 370       102 / 321       76 / 247        45 / 113
#     128x128x32 -> 32, 64  137 / 433       155 / 496       138 / 519       49 / 134
#     128x128x3 -> 32, 64   34 / 105 (im2col) 117 / 322     73 / 213        8 / 61
#
# With 32 channels the products are (T, 32) @ (32, 32), a shape OpenBLAS runs at about half the
# speed of the row method's (T, 96) @ (96, 96), which eats the 4x fewer multiplications.
#
# The table's forward+backward keeps the input, as a Conv2D layer in training does (V, or the
# row method's rows, up to KEEP_MAX_BYTES): that is ``standard.auto_algorithm``'s "training".
# The public conv2d_backward keeps nothing and transforms x's tiles again; it takes Winograd by
# the same rule. Measured that way (backward alone, dy and x given, median ms of 100 calls in 4
# interleaved rounds, load 1.1; and ``scratchconv bench --repeats 45``: forward+backward, public
# functions), rows / Winograd:
#
#     shape, batch            backward alone     forward+backward (bench)
#     14x14x64 -> 64, 32      7.42 / 6.57        8.50 / 7.94
#     7x7x128 -> 128, 32      5.98 / 5.45        7.63 / 6.58
#     64x64x64 -> 64, 64      282 / 174 (bench, backward alone)
#     32x32x128 -> 128, 64    256 / 99 (bench, backward alone)
WINOGRAD_MIN_CHANNELS = 64

# Small images: the 4x4 tiles of a 14x14 or 7x7 output cover 16x16 or 8x8 (31 % of the products
# and transforms wasted), and the products get short. The table above ran OpenBLAS's AVX2 kernels
# (Haswell, which OPENBLAS_CORETYPE sets in this project's VM); its AVX-512 kernels (SkylakeX, its
# own choice for this CPU) run the row method's products about 1.9x faster, and then the row
# method beat Winograd on those small layers, while from 16x16 up Winograd kept winning or tied.
# ``scratchconv bench --no-naive --repeats 7-15``, forward+backward, public functions, ms, rows /
# Winograd, one column per run:
#
#     shape, batch              AVX-512 (SkylakeX)         AVX2 (Haswell)
#     7x7x128 -> 128, 32        3.6 / 5.3, 5.4 / 7.8       7.2 / 6.3, 8.8 / 8.8
#     14x14x64 -> 64, 32        4.2 / 5.3, 5.1 / 7.8       7.6 / 7.1, 8.9 / 9.4
#     16x16x128 -> 128, 32      18.1 / 12.3                31.4 / 16.1
#     28x28x64 -> 64, 32        15.3 / 16.2                25.9 / 17.1
#     56x56x64 -> 64, 32        62.8 / 60.6                104.3 / 68.4
#     64x64x64 -> 64, 64        150 / 151, 181 / 151       364 / 222
#     32x32x128 -> 128, 64      163 / 105, 157 / 106       279 / 134
#
# In a training step of the article's standard Fashion-MNIST network (batch 32, 30 interleaved
# blocks of 8 steps each way, median of the per-block ratios), the row method on the 14x14 and
# 7x7 layers instead of Winograd: 0.862 with the AVX-512 kernels (faster in 30 of 30 blocks),
# 0.987 with the AVX2 ones (20 of 30: no difference shown). With AVX2 kernels the two tie on these
# layers, so one rule serves both.
WINOGRAD_MIN_OUTPUTS = 16 * 16


def winograd_pays(kernel, groups, g):
    """The measured rule: Winograd F(4x4) (``winograd_tile``) beats the row method for an ordinary
    (groups == 1) 3x3 stride-1 convolution, in a forward, a backward and both, with the fused
    kernels (``blas.ADDRESSES``) from 16 input channels and 32 filters (or 32 and 16, 24 and 24)
    up to F4_MAX_CHANNELS, with at least FUSED_MIN_OUTPUTS output pixels per image; with the
    per-step path from WINOGRAD_MIN_CHANNELS channels and filters and WINOGRAD_MIN_OUTPUTS outputs.
    Grouped convolutions were not measured."""
    _, _, cg, filters = kernel.shape
    if not (winograd_applies(kernel, groups, g) and groups == 1 and max(cg, filters) <= F4_MAX_CHANNELS):
        return False
    if blas.ADDRESSES is not None:
        return (min(cg, filters) >= FUSED_MIN_CHANNELS and cg + filters >= FUSED_MIN_CHANNEL_SUM
                and g.out_h * g.out_w >= FUSED_MIN_OUTPUTS)
    return WINOGRAD_MIN_CHANNELS <= min(cg, filters) and g.out_h * g.out_w >= WINOGRAD_MIN_OUTPUTS


# --------------------------------------------------------------------------- loop by loop


def naive_tiles(x, kernel, g, tile):
    """What both loop twins start from: (B^T, G, A^T, m, alpha, tiles_h, tiles_w, xp), xp the input
    padded as conv2d pads it and then with zeros to whole tiles, (N, tiles_h*m + 2, tiles_w*m + 2, C_in)."""
    if kernel.shape[:2] != (3, 3):
        raise ValueError(f"Winograd F(m x m, 3 x 3) needs a 3x3 kernel, got shape {kernel.shape}")
    b_t, gm, a_t = MATRICES[tile]
    m, alpha = a_t.shape
    tiles_h, tiles_w = -(-g.out_h // m), -(-g.out_w // m)
    xp = pad_input(x, g)  # (N, H_pad, W_pad, C_in), then zeros to fill the last tiles:
    xp = np.pad(xp, ((0, 0), (0, tiles_h * m + 2 - xp.shape[1]), (0, tiles_w * m + 2 - xp.shape[2]), (0, 0)))
    return b_t, gm, a_t, m, alpha, tiles_h, tiles_w, xp


def conv2d_winograd_naive(x, kernel, bias=None, *, padding="valid", groups=1, tile=2):
    """conv2d of a 3x3 kernel (stride 1) by Winograd's F(m x m, 3 x 3), one tile at a time.

    Parameters
    ----------
    x : (N, H, W, C_in) float32 or float64
    kernel : (3, 3, C_in // groups, F), same dtype;  bias : (F,) or None
    padding : 'valid' or 'same';  groups : int;  tile : m, 2 or 4

    Returns
    -------
    y : (N, H_out, W_out, F), equal to ``naive.conv2d(x, kernel, bias, padding=padding, groups=groups)``
    up to rounding. With Cg = C_in // groups, f in group grp, xp x zero-padded::

        U[:, :, c, f] = G kernel[:, :, c, f] G^T                                (alpha, alpha)
        Y = A^T (sum_c U[:, :, c, f] * B^T d[:, :, grp*Cg + c] B) A + bias[f]   (m, m)

    for each input tile d = xp[n, th*m : th*m + alpha, tw*m : tw*m + alpha] and output tile
    Y = y[n, th*m : th*m + m, tw*m : tw*m + m, f] (the part of it inside y).
    """

    x, kernel, bias, _, g, groups = check_conv2d_args(x, kernel, bias, 1, padding, 1, groups)
    b_t, gm, a_t, m, alpha, tiles_h, tiles_w, xp = naive_tiles(x, kernel, g, tile)
    _, _, cg, filters = kernel.shape
    fg = filters // groups
    u = np.einsum("ai,ijcf,bj->abcf", gm, kernel, gm)  # (alpha, alpha, Cg, F), in float64
    y = np.zeros((g.n, tiles_h * m, tiles_w * m, filters), dtype=x.dtype)  # (N, tiles_h*m, tiles_w*m, F)
    for n in range(g.n):
        for th in range(tiles_h):
            for tw in range(tiles_w):
                d = xp[n, th * m : th * m + alpha, tw * m : tw * m + alpha, :]  # (alpha, alpha, C_in)
                for f in range(filters):
                    grp = f // fg
                    products = np.zeros((alpha, alpha))  # (alpha, alpha): sum_c U * V
                    for c in range(cg):
                        products += u[:, :, c, f] * (b_t @ d[:, :, grp * cg + c] @ b_t.T)
                    y[n, th * m : th * m + m, tw * m : tw * m + m, f] = a_t @ products @ a_t.T
    y = y[:, : g.out_h, : g.out_w]  # (N, H_out, W_out, F): the ragged tiles' extra outputs dropped
    return np.ascontiguousarray(y if bias is None else y + bias)


# --------------------------------------------------------------------------- the fast forward


# The tiles go a chunk of tile rows at a time (tile rows of several images, or part of one
# image): a chunk's V and M take about CHUNK_BYTES each, so that the memory used is bounded
# whatever the batch and image, while each BLAS product stays long (each is 2 OpenBLAS threads'
# wake-up and sync). Measured (float32, 3x3 'same', F(4x4), fwd+bwd, median/min of 40
# interleaved, 2 threads), 4 -> 8 -> 16 MiB: 14x14x64 batch 32 10.2/7.2 -> 7.8/6.0 -> 8.3/5.6 ms;
# 7x7x128 about equal; 32x32x128 batch 64 219/194 -> 183/167 -> 158/151 ms; 64x64x64 batch 64
# 332/239 -> 253/232 -> 250/223 ms.
CHUNK_BYTES = 16 << 20
# keep=True keeps V of the whole batch for the backward only up to this size (as standard.py's
# KEEP_MAX_BYTES for the row method's rows).
KEEP_MAX_BYTES = 16 << 20


def tile_grid(g, tile):
    """(tiles_h, tiles_w, alpha): the output tiles that cover y, and the input tile's side."""
    return -(-g.out_h // tile), -(-g.out_w // tile), tile + 2


def tile_row_chunks(g, tile, channels, itemsize):
    """The tile rows r = n*tiles_h + th of the batch in consecutive ranges (r0, r1), each with
    about CHUNK_BYTES of alpha^2*channels values per tile (evened out); and the most tiles in one."""
    tiles_h, tiles_w, alpha = tile_grid(g, tile)
    rows = g.n * tiles_h
    step = max(1, min(rows, CHUNK_BYTES // (tiles_w * alpha * alpha * channels * itemsize)))
    step = -(-rows // -(-rows // step)) if rows else 1  # the same number of chunks, evened out
    return [(r0, min(r0 + step, rows)) for r0 in range(0, rows, step)], step * tiles_w


_scratch = threading.local()  # each thread's scratch buffers: {(name, dtype): flat array}
HUGE_PAGE = 2 << 20


def aligned_empty(size, dtype):
    """np.empty(size, dtype); from 1 MiB on, starting on a 2 MiB boundary and at least 4 MiB long,
    so that NumPy asks Linux for huge pages (transparent huge pages, for allocations of 4 MiB and more).

    The transforms read and write alpha^2 points of each tile, alpha^2 streams T*C values apart
    (V, M are (alpha^2, T, C)): with 4 KiB pages nearly every access is a TLB miss. Measured,
    one thread, F(4x4) at 28x28x32, 16 images (3.4 MiB): scatter 1.65 -> 0.76 ms, inverse 0.46 -> 0.32 ms.
    """
    itemsize = np.dtype(dtype).itemsize
    if size * itemsize < 1 << 20:
        return np.empty(size, dtype=dtype)
    raw = np.empty(max(size * itemsize, 4 << 20) + HUGE_PAGE, dtype=np.uint8)
    start = -raw.ctypes.data % HUGE_PAGE
    return raw[start : start + size * itemsize].view(dtype)


def scratch(name, size, dtype):
    """A flat scratch buffer of ``size`` values (``aligned_empty``), kept between calls, per thread
    and name: a chunk's V, M (or dM) and dV, CHUNK_BYTES or so each, are allocated once per
    thread rather than on every call, which would pay their page faults every time (a first
    touch of fresh memory ran at about 1 GB/s on the 2-vCPU machine). ``release_scratch`` frees them.
    """
    buffers = _scratch.__dict__
    key = (name, np.dtype(dtype).str)
    if key not in buffers or buffers[key].size < size:
        buffers.pop(key, None)  # the old one first: never both
        buffers[key] = aligned_empty(size, dtype)
    return buffers[key][:size]


def release_scratch():
    """Free this thread's scratch buffers (up to 3 of about CHUNK_BYTES + 2 MiB per dtype)."""
    _scratch.__dict__.clear()


def carve(buffer, offset, shape):
    """A C-contiguous view of shape ``shape`` into the flat buffer at offset."""
    return buffer[offset : offset + int(np.prod(shape))].reshape(shape)


def transformed_kernel(kernel, groups, tile):
    """U = G g G^T for every input channel and filter, per point and group: (alpha^2, groups, Cg, Fg),
    in kernel's dtype, from float64 sums (G holds 1/6 and 1/15)."""
    _, gm, _ = MATRICES[tile]
    alpha = gm.shape[0]
    _, _, cg, filters = kernel.shape
    u = np.empty((alpha * alpha, groups, cg, filters // groups), dtype=kernel.dtype)  # (alpha^2, groups, Cg, Fg)
    _filter_transform(u, np.ascontiguousarray(kernel), gm)
    return u


def kernel_gradient(du, tile):
    """dkernel = G^T dU G from dU (alpha^2, groups, Cg, Fg): (3, 3, Cg, F), du's dtype, from float64 sums."""
    _, gm, _ = MATRICES[tile]
    _, groups, cg, fg = du.shape
    dkernel = np.empty((3, 3, cg, groups * fg), dtype=du.dtype)  # (3, 3, Cg, F)
    _filter_gradient(dkernel, du, gm)
    return dkernel


def conv2d_winograd(x, kernel, bias, g, groups, keep=False, tile=2):
    """conv2d by Winograd F(tile x tile, 3 x 3) on checked arguments (x C-contiguous NHWC, kernel
    finite, ``winograd_applies``): (y (N, H_out, W_out, F), kept or None).

    Per chunk of tile rows: V = B^T d B for every tile (``_gather_tiles``); for every point xi
    and group M[xi] = V[xi] @ U[xi] (BLAS, one batched product per group); y = A^T M A + bias per
    tile (``_output_tiles``). keep=True: kept is the V of every chunk, back to back in one flat
    array, for ``conv2d_backward_winograd``'s kept (only up to KEEP_MAX_BYTES, else None).
    """
    _, _, cg, filters = kernel.shape
    fg = filters // groups
    c_in = x.shape[3]
    tiles_h, tiles_w, alpha = tile_grid(g, tile)
    points = alpha * alpha
    u = transformed_kernel(kernel, groups, tile)  # (alpha^2, groups, Cg, Fg)
    bias_or_zero = np.zeros(filters, x.dtype) if bias is None else np.ascontiguousarray(bias)  # (F,)
    y = np.empty((g.n, g.out_h, g.out_w, filters), dtype=x.dtype)  # (N, H_out, W_out, F)
    keep = keep and points * g.n * tiles_h * tiles_w * c_in * x.itemsize <= KEEP_MAX_BYTES
    if blas.ADDRESSES is not None:  # each thread its chunks, start to end (standard_winograd_fused.py)
        rows_per_chunk, workers = fused_chunks(g, tile, max(c_in, filters), x.itemsize)
        chunk_tiles = points * rows_per_chunk * tiles_w
        kept = aligned_empty(points * g.n * tiles_h * tiles_w * c_in if keep else 0, x.dtype)  # every chunk's V, flat
        v_scratch = scratch("fused V", 0 if keep else workers * chunk_tiles * c_in, x.dtype)
        m_scratch = scratch("fused M", workers * chunk_tiles * filters, x.dtype)
        _forward_fused(y, x, u, bias_or_zero, kept, keep, tile, g.pad_top, g.pad_left, tiles_h, tiles_w,
                       rows_per_chunk, v_scratch, m_scratch, blas.ADDRESSES, workers)
        return y, (kept if keep else None)
    chunks, max_tiles = tile_row_chunks(g, tile, max(c_in, filters), x.itemsize)
    if keep:
        v_all = aligned_empty(points * g.n * tiles_h * tiles_w * c_in, x.dtype)  # every chunk's V, flat
    else:
        v_all = scratch("V", points * max_tiles * c_in, x.dtype)  # one chunk's V
    products = scratch("M", points * max_tiles * filters, x.dtype)  # one chunk's M
    for r0, r1 in chunks:
        t = (r1 - r0) * tiles_w  # tiles in this chunk
        v = carve(v_all, points * r0 * tiles_w * c_in if keep else 0, (points, t, c_in))  # (alpha^2, t, C_in)
        mm = carve(products, 0, (points, t, filters))  # (alpha^2, t, F)
        _gather_tiles(v, x, tile, g.pad_top, g.pad_left, tiles_h, tiles_w, r0, False)
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/Inf from the input propagate silently
            if groups == 1:
                np.matmul(v, u[:, 0], out=mm)  # (alpha^2, t, F)
            else:  # each group's channels and filters: column slices (BLAS reads them in place)
                for grp in range(groups):
                    np.matmul(v[:, :, grp * cg : (grp + 1) * cg], u[:, grp], out=mm[:, :, grp * fg : (grp + 1) * fg])
        _output_tiles(y, mm, bias_or_zero, tile, tiles_h, tiles_w, r0)
    return y, (v_all if keep else None)
