"""conv2d for layers with few input channels: a full im2col, then one BLAS product.

``standard.py``'s row method unfolds kh input rows and multiplies by a (kh*Cg, kw*Fg) matrix;
when a layer has few input channels for its filters (kh*kw*Cg < kw*Fg, like a network's
first layer: 1 channel in, 32 out), a full im2col matrix is the narrower one, so ``conv2d``
sends such layers here (groups == 1)::

    cols (M, kh*kw*C_in) @ K (kh*kw*C_in, F) = y (M, F),    M = N*H_out*W_out
    backward: dK = cols^T @ dy,  dcols = dy @ K^T, folded back onto dx

Padding zeros are multiplied here; ``standard.py`` sends non-finite kernels elsewhere first.
"""

import numpy as np

from ._numba import kernel as numba_kernel
from ._numba import prange
from .pointwise import _add_bias


@numba_kernel
def _unfold(cols, x, kh, kw, sh, sw, dh, dw, pad_top, pad_left, out_h, out_w):
    """Full im2col, for few input channels (see ``_use_im2col``): every window as one row.

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


def use_im2col(kernel, groups):
    """Full im2col when its matrix is narrower than the row method's product: kh*kw*Cg < kw*Fg.

    That is a layer with few input channels for its filters, like a network's first layer
    (1 channel in, 32 out: cols 9 values wide, the row method's z 96 wide and its product only
    3 deep). Measured on the Fashion-MNIST first layer (batch 32, 28x28x1 -> 32, 3x3 'same',
    median of 30, 2 threads): forward 1.88 -> 1.3-1.5 ms, backward 4.3 -> 2.8 ms (1.7 ms without
    dx). Most of what is left is _unfold (0.7 ms: 9 values per window, a bounds test each).
    """
    kh, kw, cg, filters = kernel.shape
    return groups == 1 and kh * kw * cg < kw * filters


def conv2d_im2col(x, kernel, bias, g, chunking):
    """y = cols @ K + bias, chunk by chunk: cols (M, kh*kw*C_in), K (kh*kw*C_in, F). (groups == 1)

    chunking: (image ranges, windows in the largest), from standard._image_chunks.
    """
    kh, kw, c_in, filters = kernel.shape
    k2 = np.ascontiguousarray(kernel).reshape(kh * kw * c_in, filters)  # (kh*kw*C_in, F)
    y = np.empty((g.n, g.out_h, g.out_w, filters), dtype=x.dtype)  # (N, H_out, W_out, F)
    chunks, max_rows = chunking
    cols = np.empty((max_rows, k2.shape[0]), dtype=x.dtype)  # (M, kh*kw*C_in), reused per chunk
    for images in chunks:
        m = (images.stop - images.start) * g.out_h * g.out_w
        _unfold(cols[:m], x[images], kh, kw, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left, g.out_h, g.out_w)
        out = y[images].reshape(m, filters)  # (m, F), a view: y's chunk is contiguous
        with np.errstate(invalid="ignore"):
            np.matmul(cols[:m], k2, out=out)
        if bias is not None:
            _add_bias(out, bias)
    return y


def conv2d_backward_im2col(dy, x, kernel, g, input_gradient, chunking):
    """(dx or None, dkernel) with the forward's cols: dK = cols^T @ dy, dcols = dy @ K^T, folded into dx."""
    kh, kw, c_in, filters = kernel.shape
    k2 = np.ascontiguousarray(kernel).reshape(kh * kw * c_in, filters)  # (kh*kw*C_in, F)
    dk2 = np.zeros(k2.shape, dtype=x.dtype)  # (kh*kw*C_in, F)
    product = np.empty(k2.shape, dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype) if input_gradient else None  # (N, H, W, C_in)
    chunks, max_rows = chunking
    cols = np.empty((max_rows, k2.shape[0]), dtype=x.dtype)  # (M, kh*kw*C_in), then dcols
    for images in chunks:
        m = (images.stop - images.start) * g.out_h * g.out_w
        _unfold(cols[:m], x[images], kh, kw, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left, g.out_h, g.out_w)
        grads = dy[images].reshape(m, filters)  # (m, F)
        with np.errstate(invalid="ignore"):  # a 0 * Inf here is redone by the caller
            np.matmul(cols[:m].T, grads, out=product)  # (kh*kw*C_in, F)
            dk2 += product
            if input_gradient:
                np.matmul(grads, k2.T, out=cols[:m])  # dcols (m, kh*kw*C_in)
        if input_gradient:
            _fold(dx[images], cols[:m], kh, kw, g.sh, g.sw, g.dh, g.dw, g.pad_top, g.pad_left, g.out_h, g.out_w)
    return dx, dk2.reshape(kernel.shape)
