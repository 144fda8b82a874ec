"""Winograd's convolution a chunk of tiles per thread, from the input to the output in one kernel.

``standard_winograd.py`` runs each step over the whole batch (or a few MiB of it) before the
next: transform every tile, then 16 or 36 products through ``np.matmul`` (OpenBLAS's two threads
share each one), then the inverse transform. V and M then go to memory and back, and each
product, small, pays for waking and syncing OpenBLAS's threads. Here each of Numba's threads
takes its own consecutive chunks of tile rows, and for each chunk runs every step itself, V and
M staying in its core's cache (FUSED_CHUNK_BYTES):

    forward, per chunk:  V = B^T d B (gather)  ->  M[xi] = V[xi] @ U[xi] (BLAS, this thread only)
                         ->  y = A^T M A + bias (inverse transform)
    backward, per chunk: dM = A dY A^T  ->  dU_w[xi] += V[xi]^T @ dM[xi]  (each thread w its own
                         partial dU, summed after)  ->  dV[xi] = dM[xi] @ U[xi]^T  ->  dx += B dV B^T

The backward's patches of neighbouring chunks overlap (two rows of x), so it runs in two passes,
the even chunks and then the odd ones: two chunks of one pass are at least one chunk apart.

The products are ``blas.gemm`` calls, OpenBLAS held to the calling thread. Measured (float32, F(4x4),
forward, median of 15 interleaved calls, 2 threads, OpenBLAS's AVX2 kernels), this against the
per-step path and the row method: 28x28x32->32 batch 32 2.4 / 5.0 / 6.3 ms; 128x128x32->32 batch 64
94 / 240 / 279 ms.

The transforms are the ones of ``standard_winograd_transforms.py``, compiled a second time
without ``prange`` (``_serial_twin``): a parallel kernel called from inside a ``prange`` ran
twice as slowly.
"""

import types as pytypes

import numba
import numpy as np

from .blas import NO_TRANS, TRANS, blas_threads, gemm
from .numba_config import kernel as numba_kernel
from .numba_config import prange
from .numba_config import serial_kernel
from .standard_winograd_transforms import _gather_tiles, _output_tiles, _scatter_tiles


# Where ``standard_winograd.winograd_pays`` sends convolutions to these kernels. Its rule for the
# per-step path (np.matmul's products) does not hold here: the fused kernels win far more widely.
# Public conv2d / conv2d_backward, batch 32, float32, 3x3 'same', ms, median of 5 interleaved
# rounds, OpenBLAS's AVX2 kernels, then its AVX-512 ones (``env -u OPENBLAS_CORETYPE``):
#
#     shape                forward: fused / rows      backward: fused / rows
#     28x28x16 -> 16       1.58 / 1.14, 0.91 / 0.78    3.17 / 2.43, 1.90 / 1.74
#     28x28x16 -> 32       1.48 / 1.93, 0.92 / 1.28    2.55 / 3.82, 2.16 / 2.53
#     28x28x24 -> 24       1.33 / 1.91, 1.18 / 1.23    2.70 / 3.93, 2.55 / 2.75
#     28x28x32 -> 32       1.65 / 3.10, 1.18 / 1.85    3.79 / 5.90, 2.89 / 3.83
#     14x14x64 -> 64       1.32 / 2.48, 0.82 / 1.44    3.18 / 4.85, 2.41 / 2.79
#     7x7x128 -> 128       1.46 / 2.27, 0.90 / 1.27    3.28 / 4.61, 2.77 / 2.53
#     4x4x128 -> 128       0.62 / 0.84, 0.48 / 0.55    1.56 / 1.68, 1.44 / 1.10
#     7x7x256 -> 256 (F(2x2))  7.46 / 9.22, 5.19 / 4.77    15.6 / 18.9, 11.4 / 9.9
#     56x56x64 -> 64       17.3 / 37.4                 32.9 / 72.3
#     batch 64: 128x128x32 -> 32: 70 / 115 forward, 149 / 223 backward; 64x64x64 -> 64 and
#     32x32x128 -> 128 forward+backward 144 / 303 and 101 / 266
#
# So, fused: from 16 + 32 channels and filters (cg + fg >= FUSED_MIN_CHANNEL_SUM, each >= 16) up
# to F4_MAX_CHANNELS (F(2x2) above it lost with the AVX-512 kernels), outputs of 7x7 or more.
FUSED_MIN_CHANNELS = 16
FUSED_MIN_CHANNEL_SUM = 48
FUSED_MIN_OUTPUTS = 7 * 7

# The chunks: each thread's V and M of a chunk, about FUSED_CHUNK_BYTES each, stay in its core's
# cache (1 MiB of L2 per core on the project's machine). 256 KiB against 512 KiB: 28x28x32 and
# 14x14x64 alike, 7x7x128 and the monkeys layers 10-30 % slower (their products got short).
FUSED_CHUNK_BYTES = 512 << 10


def fused_chunks(g, tile, channels, itemsize):
    """(rows_per_chunk, workers): tile rows per chunk of about FUSED_CHUNK_BYTES of alpha^2*channels
    values per tile, the same for the forward and the backward (kept V is laid out by chunk); and
    how many of Numba's threads get chunks."""
    tiles_h, tiles_w, alpha = -(-g.out_h // tile), -(-g.out_w // tile), tile + 2
    rows = g.n * tiles_h
    rows_per_chunk = max(1, min(rows, FUSED_CHUNK_BYTES // (tiles_w * alpha * alpha * channels * itemsize)))
    return rows_per_chunk, max(1, min(numba.get_num_threads(), -(-rows // rows_per_chunk)))


def _serial_twin(dispatcher, name):
    """The kernel's function compiled without parallel loops, under its own name (Numba's cache
    files are named after the function, so the twin must not share the original's)."""
    function = getattr(dispatcher, "py_func", dispatcher)  # a plain function under NUMBA_DISABLE_JIT
    twin = pytypes.FunctionType(function.__code__, function.__globals__, name, function.__defaults__,
                                function.__closure__)
    twin.__qualname__ = name
    twin.__doc__ = function.__doc__
    return serial_kernel(twin)


_gather_serial = _serial_twin(_gather_tiles, "_gather_serial")
_output_serial = _serial_twin(_output_tiles, "_output_serial")
_scatter_serial = _serial_twin(_scatter_tiles, "_scatter_serial")


@serial_kernel
def _share(count, workers, w):
    """Worker w's consecutive share [first, last) of count items, as even as can be."""
    base, extra = divmod(count, workers)
    first = w * base + min(w, extra)
    return first, first + base + (1 if w < extra else 0)


@numba_kernel
def _forward_fused(y, x, u, bias, kept, keep, m, top, left, tiles_h, tiles_w, rows_per_chunk, v_scratch, m_scratch,
                   blas, workers):
    """y = conv2d by Winograd F(m x m, 3 x 3), each worker its share of the chunks of tile rows.

    y (N, H_out, W_out, F), written; x (N, H, W, C_in); u (alpha^2, groups, Cg, Fg); bias (F,);
    keep: V of every chunk goes into kept (alpha^2 * tiles * C_in values, flat, chunk after chunk
    as ``standard_winograd.conv2d_winograd`` keeps it), else into the worker's part of v_scratch;
    v_scratch, m_scratch: workers * alpha^2 * rows_per_chunk*tiles_w * C_in (F) values.
    """
    points, groups, cg, fg = u.shape
    c_in, filters = x.shape[3], y.shape[3]
    n_rows = x.shape[0] * tiles_h
    n_chunks = -(-n_rows // rows_per_chunk)
    v_share, m_share = v_scratch.size // workers, m_scratch.size // workers
    for w in prange(workers):
        first, last = _share(n_chunks, workers, w)
        blas_threads(blas, 1)
        for chunk in range(first, last):
            r0 = chunk * rows_per_chunk
            t = (min(n_rows, r0 + rows_per_chunk) - r0) * tiles_w  # tiles in this chunk
            if keep:
                v = kept[points * r0 * tiles_w * c_in : points * (r0 * tiles_w + t) * c_in].reshape((points, t, c_in))
            else:
                v = v_scratch[w * v_share : w * v_share + points * t * c_in].reshape((points, t, c_in))
            mm = m_scratch[w * m_share : w * m_share + points * t * filters].reshape((points, t, filters))
            _gather_serial(v, x, m, top, left, tiles_h, tiles_w, r0, False)
            for p in range(points):
                for grp in range(groups):  # M[p][:, group's filters] = V[p][:, group's channels] @ U[p, grp]
                    gemm(blas, NO_TRANS, NO_TRANS, t, fg, cg, v[p, :, grp * cg :], c_in, u[p, grp], fg,
                         0.0, mm[p, :, grp * fg :], filters)
            _output_serial(y, mm, bias, m, tiles_h, tiles_w, r0)
        blas_threads(blas, 0)


@numba_kernel
def _backward_fused(dx, du_parts, dy, x, u, kept, have_kept, m, top, left, tiles_h, tiles_w, rows_per_chunk,
                    v_scratch, dm_scratch, dv_scratch, blas, workers, input_gradient):
    """The gradients of ``_forward_fused``'s y, each worker its share of the chunks.

    dx (N, H, W, C_in) zeros, added to (when input_gradient); du_parts (workers, alpha^2, groups,
    Cg, Fg) zeros: worker w adds its chunks' V^T @ dM to du_parts[w]; dy (N, H_out, W_out, F);
    kept: the forward's V when have_kept; scratch as ``_forward_fused``'s, dm_scratch sized by F.
    """
    points, groups, cg, fg = u.shape
    c_in, filters = x.shape[3], dy.shape[3]
    n_rows = x.shape[0] * tiles_h
    n_chunks = -(-n_rows // rows_per_chunk)
    v_share, m_share, dv_share = v_scratch.size // workers, dm_scratch.size // workers, dv_scratch.size // workers
    passes = 2 if input_gradient else 1  # even chunks, then odd: neighbours' patches of x overlap
    for parity in range(passes):
        count = (n_chunks - parity + passes - 1) // passes  # the chunks of this pass
        for w in prange(workers):
            first, last = _share(count, workers, w)
            blas_threads(blas, 1)
            for j in range(first, last):
                r0 = (j * passes + parity) * rows_per_chunk
                t = (min(n_rows, r0 + rows_per_chunk) - r0) * tiles_w
                dm = dm_scratch[w * m_share : w * m_share + points * t * filters].reshape((points, t, filters))
                _gather_serial(dm, dy, m, 0, 0, tiles_h, tiles_w, r0, True)
                if have_kept:
                    v = kept[points * r0 * tiles_w * c_in : points * (r0 * tiles_w + t) * c_in].reshape((points, t, c_in))
                else:
                    v = v_scratch[w * v_share : w * v_share + points * t * c_in].reshape((points, t, c_in))
                    _gather_serial(v, x, m, top, left, tiles_h, tiles_w, r0, False)
                for p in range(points):
                    for grp in range(groups):  # dU[p, grp] += V[p][:, channels]^T @ dM[p][:, filters]
                        gemm(blas, TRANS, NO_TRANS, cg, fg, t, v[p, :, grp * cg :], c_in, dm[p, :, grp * fg :],
                             filters, 1.0, du_parts[w, p, grp], fg)
                if input_gradient:
                    dv = dv_scratch[w * dv_share : w * dv_share + points * t * c_in].reshape((points, t, c_in))
                    for p in range(points):
                        for grp in range(groups):  # dV[p][:, channels] = dM[p][:, filters] @ U[p, grp]^T
                            gemm(blas, NO_TRANS, TRANS, t, cg, fg, dm[p, :, grp * fg :], filters, u[p, grp], fg,
                                 0.0, dv[p, :, grp * cg :], c_in)
                    _scatter_serial(dx, dv, m, top, left, tiles_h, tiles_w, r0)
            blas_threads(blas, 0)
