"""Gradients of conv2d by Winograd F(m x m, 3 x 3): the forward's transforms, run backwards.

The forward (``standard_winograd.py``) is linear in each of x and the kernel::

    V = B^T d B   per tile,      U = G g G^T,      M[xi] = V[xi] @ U[xi],      Y = A^T M A

so its adjoint takes each step's transpose, in reverse order. For dy (N, H_out, W_out, F),
with dY a tile of dy (zeros past its edge)::

    dM = A dY A^T                     per tile (the transpose of the inverse transform)
    dU[xi] = V[xi]^T @ dM[xi]         (C, F), summed over every tile: the kernel's gradient
    dkernel = G^T dU G                per input channel and filter
    dV[xi] = dM[xi] @ U[xi]^T         (T, C)
    dx += B dV B^T                    per tile, added onto its alpha x alpha patch of x:
                                      the tiles overlap by two pixels, so their patches add up

and dbias is the sum of dy. The products go through BLAS like the forward's.
"""

import numpy as np

from .arguments import check_conv2d_args
from .pointwise import bias_gradient
from . import blas
from .standard_winograd import (carve, fused_chunks, kernel_gradient, naive_tiles, scratch, tile_grid, tile_row_chunks,
                                transformed_kernel)
from .standard_winograd_fused import _backward_fused
from .standard_winograd_transforms import _gather_tiles, _scatter_tiles


# --------------------------------------------------------------------------- loop by loop


def conv2d_backward_winograd_naive(dy, x, kernel, bias=None, *, padding="valid", groups=1, tile=2):
    """Gradients of ``conv2d_winograd_naive`` by running each tile's transforms backwards.

    Parameters
    ----------
    dy : (N, H_out, W_out, F);  x, kernel, bias, padding, groups, tile : as in the forward

    Returns
    -------
    dx (N, H, W, C_in), dkernel (3, 3, C_in // groups, F), dbias (F,) or None: equal to
    ``naive.conv2d_backward`` up to rounding. Per tile (th, tw), filter f in group grp::

        dM = A dY A^T                                  dY = dy's m x m tile, zeros past the edge
        dU[:, :, c, f] += dM * B^T d[:, :, grp*Cg + c] B
        dxp's alpha x alpha patch [.., grp*Cg + c] += B (dM * U[:, :, c, f]) B^T
        dkernel[:, :, c, f] = G^T dU[:, :, c, f] G     after all tiles
    """

    x, kernel, bias, dy, g, groups = check_conv2d_args(x, kernel, bias, 1, padding, 1, groups, dy)
    b_t, gm, a_t, m, alpha, tiles_h, tiles_w, xp = naive_tiles(x, kernel, g, tile)  # (N, tiles_h*m + 2, ..)
    _, _, cg, filters = kernel.shape
    fg = filters // groups
    dyp = np.zeros((g.n, tiles_h * m, tiles_w * m, filters))  # (N, tiles_h*m, tiles_w*m, F): dy, zero-filled
    dyp[:, : g.out_h, : g.out_w] = dy
    u = np.einsum("ai,ijcf,bj->abcf", gm, kernel, gm)  # (alpha, alpha, Cg, F)
    du = np.zeros(u.shape)  # (alpha, alpha, Cg, F)
    dxp = np.zeros(xp.shape)  # (N, tiles_h*m + 2, tiles_w*m + 2, C_in)
    for n in range(g.n):
        for th in range(tiles_h):
            for tw in range(tiles_w):
                rows, cols = slice(th * m, th * m + alpha), slice(tw * m, tw * m + alpha)
                d = xp[n, rows, cols, :]  # (alpha, alpha, C_in)
                for f in range(filters):
                    grp = f // fg
                    dm = a_t.T @ dyp[n, th * m : th * m + m, tw * m : tw * m + m, f] @ a_t  # (alpha, alpha)
                    for c in range(cg):
                        du[:, :, c, f] += dm * (b_t @ d[:, :, grp * cg + c] @ b_t.T)
                        dxp[n, rows, cols, grp * cg + c] += b_t.T @ (dm * u[:, :, c, f]) @ b_t
    dkernel = np.einsum("ai,abcf,bj->ijcf", gm, du, gm).astype(x.dtype)  # (3, 3, Cg, F)
    dx = dxp[:, g.pad_top : g.pad_top + g.h, g.pad_left : g.pad_left + g.w].astype(x.dtype)  # (N, H, W, C_in)
    return dx, dkernel, (None if bias is None else dy.sum(axis=(0, 1, 2)))


# --------------------------------------------------------------------------- the fast backward


def conv2d_backward_winograd(dy, x, kernel, with_bias, g, groups, input_gradient=True, kept=None, tile=2):
    """conv2d_backward by Winograd F(tile x tile, 3 x 3) on checked arguments (x, dy C-contiguous,
    kernel finite, ``winograd_applies``): (dx or None, dkernel, dbias or None).

    Per chunk of tile rows (the forward's chunks): dM = A dY A^T per tile (``_gather_tiles`` on
    dy); V from kept, or transformed again; per point and group dU += V^T @ dM and dV = dM @ U^T
    (BLAS); dx += B dV B^T per tile (``_scatter_tiles``). Then dkernel = G^T dU G.
    input_gradient=False: dx is not computed (None). kept: what ``conv2d_winograd(..., keep=True,
    tile=tile)`` returned for this x (read only), or None.
    """
    _, _, cg, filters = kernel.shape
    fg = filters // groups
    c_in = x.shape[3]
    tiles_h, tiles_w, alpha = tile_grid(g, tile)
    points = alpha * alpha
    if kept is not None and kept.shape != (points * g.n * tiles_h * tiles_w * c_in,):
        raise ValueError(f"kept V of shape {kept.shape} does not belong to this convolution "
                         f"(expected ({points * g.n * tiles_h * tiles_w * c_in},))")
    u = transformed_kernel(kernel, groups, tile)  # (alpha^2, groups, Cg, Fg)
    dbias = bias_gradient(dy.reshape(-1, filters)) if with_bias else None  # (F,)
    if blas.ADDRESSES is not None:  # each thread its chunks, start to end (standard_winograd_fused.py)
        rows_per_chunk, workers = fused_chunks(g, tile, max(c_in, filters), x.itemsize)
        chunk_tiles = points * rows_per_chunk * tiles_w
        dx = np.zeros(x.shape if input_gradient else (0, 0, 0, c_in), dtype=x.dtype)  # (N, H, W, C_in), added to
        du_parts = np.zeros((workers,) + u.shape, dtype=x.dtype)  # (workers, alpha^2, groups, Cg, Fg)
        v_scratch = scratch("fused V", workers * chunk_tiles * c_in if kept is None else 0, x.dtype)
        dm_scratch = scratch("fused M", workers * chunk_tiles * filters, x.dtype)
        dv_scratch = scratch("fused dV", workers * chunk_tiles * c_in if input_gradient else 0, x.dtype)
        _backward_fused(dx, du_parts, dy, x, u, np.empty(0, x.dtype) if kept is None else kept, kept is not None,
                        tile, g.pad_top, g.pad_left, tiles_h, tiles_w, rows_per_chunk, v_scratch, dm_scratch,
                        dv_scratch, blas.ADDRESSES, workers, input_gradient)
        return (dx if input_gradient else None), kernel_gradient(du_parts.sum(axis=0), tile), dbias
    du = np.zeros(u.shape, dtype=x.dtype)  # (alpha^2, groups, Cg, Fg)
    dx = np.zeros(x.shape, dtype=x.dtype) if input_gradient else None  # (N, H, W, C_in), added to per tile
    chunks, max_tiles = tile_row_chunks(g, tile, max(c_in, filters), x.itemsize)
    dm_buffer = scratch("M", points * max_tiles * filters, x.dtype)  # one chunk's dM
    v_buffer = scratch("V", points * max_tiles * c_in, x.dtype) if kept is None else kept  # one chunk's V, or all
    dv_buffer = scratch("dV", points * max_tiles * c_in, x.dtype) if input_gradient else None  # one chunk's dV
    product = np.empty((points, cg, fg), dtype=x.dtype) if len(chunks) > 1 or groups > 1 else None  # a chunk's dU
    for r0, r1 in chunks:
        t = (r1 - r0) * tiles_w
        dm = carve(dm_buffer, 0, (points, t, filters))  # (alpha^2, t, F)
        _gather_tiles(dm, dy, tile, 0, 0, tiles_h, tiles_w, r0, True)
        first = 0 if kept is None else points * r0 * tiles_w * c_in  # where this chunk's V starts in kept
        v = carve(v_buffer, first, (points, t, c_in))  # (alpha^2, t, C_in)
        if kept is None:
            _gather_tiles(v, x, tile, g.pad_top, g.pad_left, tiles_h, tiles_w, r0, False)
        dv = None if dx is None else carve(dv_buffer, 0, (points, t, c_in))  # (alpha^2, t, C_in)
        with np.errstate(invalid="ignore", over="ignore"):
            for grp in range(groups):
                channels, outputs = slice(grp * cg, (grp + 1) * cg), slice(grp * fg, (grp + 1) * fg)
                if product is None:  # one chunk, one group: the product is dU
                    np.matmul(v.transpose(0, 2, 1), dm, out=du[:, 0])  # (alpha^2, Cg, Fg)
                else:
                    du[:, grp] += np.matmul(v[:, :, channels].transpose(0, 2, 1), dm[:, :, outputs], out=product)
                if dv is not None:
                    np.matmul(dm[:, :, outputs], u[:, grp].transpose(0, 2, 1), out=dv[:, :, channels])
        if dx is not None:
            _scatter_tiles(dx, dv, tile, g.pad_top, g.pad_left, tiles_h, tiles_w, r0)
    return dx, kernel_gradient(du, tile), dbias  # dkernel (3, 3, Cg, F)
