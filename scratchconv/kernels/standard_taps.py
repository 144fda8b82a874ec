"""conv2d's exact fallback: one tap at a time, over the pixels inside x only.

NaN and Inf. The fast path multiplies zeros that are not terms of the sum: the padding
in rows (by the kernel) and the structural zeros of dz (by x or the kernel). They give
exactly 0 for finite values, but NaN next to an Inf or NaN, where TensorFlow's float32
kernels skip the padding and stay finite. So the fast functions sum tap by tap over the
pixels inside x instead when the kernel is not finite, and so does conv2d_backward for
dkernel when its fast dkernel is not finite (a NaN from 0 * Inf cannot vanish from a
sum, so a finite fast result has no such product in it).
"""

import numpy as np


def _tap_span(size, out_size, k, stride, dilation, pad_before):
    """(output slice, input slice) of the positions o whose tap k lands inside the input,
    0 <= o*stride + k*dilation - pad_before < size, or None if there are none."""
    offset = k * dilation - pad_before
    first = max(0, -(offset // stride))  # ceil(-offset / stride)
    last = min(out_size - 1, (size - 1 - offset) // stride)
    if last < first:
        return None
    start = first * stride + offset
    return slice(first, last + 1), slice(start, start + (last - first) * stride + 1, stride)


def _inside_taps(g, kernel, groups):
    """For every tap (ky, kx) and group: (ky, kx, out, inp), index tuples of the output pixels
    (N, rows, cols, Fg) whose tap lands inside x and of the input pixels (N, rows, cols, Cg) it reads."""
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    for ky in range(kh):
        for kx in range(kw):
            rows = _tap_span(g.h, g.out_h, ky, g.sh, g.dh, g.pad_top)
            cols = _tap_span(g.w, g.out_w, kx, g.sw, g.dw, g.pad_left)
            if rows is not None and cols is not None:
                for grp in range(groups):
                    out = (slice(None), rows[0], cols[0], slice(grp * fg, (grp + 1) * fg))
                    yield ky, kx, out, (slice(None), rows[1], cols[1], slice(grp * cg, (grp + 1) * cg))


def _conv2d_by_taps(x, kernel, bias, g, groups):
    """y one tap at a time, over the pixels inside x only: the padding is skipped, never multiplied."""
    y = np.zeros((g.n, g.out_h, g.out_w, kernel.shape[3]), dtype=x.dtype)  # (N, H_out, W_out, F)
    for ky, kx, out, inp in _inside_taps(g, kernel, groups):
        y[out] += x[inp] @ kernel[ky, kx, :, out[3]]  # (N, rows, cols, Cg) @ (Cg, Fg)
    return y if bias is None else y + bias


def _conv2d_backward_by_taps(dy, x, kernel, g, groups):
    """(dx, dkernel) one tap at a time, over the pixels inside x only (see ``_conv2d_by_taps``)."""
    dx = np.zeros(x.shape, dtype=x.dtype)  # (N, H, W, C_in)
    dkernel = np.zeros(kernel.shape, dtype=x.dtype)  # (kh, kw, Cg, F)
    for ky, kx, out, inp in _inside_taps(g, kernel, groups):
        dx[inp] += dy[out] @ kernel[ky, kx, :, out[3]].T  # (N, rows, cols, Fg) @ (Fg, Cg)
        dkernel[ky, kx, :, out[3]] = np.tensordot(x[inp], dy[out], axes=([0, 1, 2], [0, 1, 2]))  # (Cg, Fg)
    return dx, dkernel
