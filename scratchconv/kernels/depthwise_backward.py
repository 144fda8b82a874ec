"""The Numba kernels of depthwise_conv2d_backward (``depthwise.py`` chooses between them).

- ``_depthwise_backward_rows3_kernel``: row and column stride 1, three kernel rows, no row
  dilation, finite kernel (the common 3x3 case): dx, dkernel and dbias in one pass.
- ``_depthwise_kernel_grad_rows_kernel``: dkernel and dbias on whole rows, column stride 1
  (dx then comes from the forward's row kernel with the flipped kernel); also the exact
  fallback of the fused kernel when dy holds Inf or NaN.
- ``_depthwise_backward_kernel``: any strides, one output pixel at a time.

Shapes: Q = C*M channels (the input repeated M times, as in the forward); x (N, H, W, Q),
dy (N, H_out, W_out, Q).
"""

import numpy as np

from .numba_config import kernel, prange


@kernel
def _depthwise_backward_kernel(dx, dk_per_image, db_per_image, dy, x, k, sh, sw, dh, dw, pad_top, pad_left):
    """Any strides: the three gradients in one pass over dy and x, one image per parallel iteration.

    dx (N, H, W, Q), dk_per_image (N, kh, kw, Q) and db_per_image (N, Q) are written and
    must arrive zeroed; dy (N, H_out, W_out, Q); x (N, H, W, Q) with Q = C*M; k (kh, kw, Q).
    Summing dk_per_image and db_per_image over axis 0 afterwards gives dk and dbias.

    The general path: a stride > 1 or a kernel holding Inf/NaN. prange over the batch: image n owns
    dx[n], dk_per_image[n] and db_per_image[n], so the scatter dx[n, iy, ix] += dy * k
    never races; each dy value is read once and multiplied by k (for dx) and by x (for
    dk); innermost loop over the contiguous channel axis.
    """
    n_batch, out_h, out_w, channels = dy.shape
    height, width = x.shape[1], x.shape[2]
    kh, kw = k.shape[0], k.shape[1]
    for n in prange(n_batch):
        for oy in range(out_h):
            for ox in range(out_w):
                for q in range(channels):
                    db_per_image[n, q] += dy[n, oy, ox, q]
            for i in range(kh):
                iy = oy * sh + i * dh - pad_top
                if iy < 0 or iy >= height:
                    continue
                for ox in range(out_w):
                    for j in range(kw):
                        ix = ox * sw + j * dw - pad_left
                        if ix >= 0 and ix < width:
                            for q in range(channels):
                                grad = dy[n, oy, ox, q]
                                dx[n, iy, ix, q] += grad * k[i, j, q]
                                dk_per_image[n, i, j, q] += grad * x[n, iy, ix, q]


@kernel
def _depthwise_kernel_grad_rows_kernel(dk_tiled, db_tiled, dy, x, sh, dh, dw, pad_top, pad_left):
    """Column stride 1: the kernel and bias gradients on whole rows, one partial sum per chunk.

    dk_tiled (T, kh, kw, W_out*Q) and db_tiled (T, W_out*Q) are written and must arrive
    zeroed; dy (N, H_out, W_out, Q); x (N, H, W, Q). Chunk c sums the output rows
    [c*R/T, (c+1)*R/T) of the R = N*H_out rows:
        dk_tiled[c, i, j, ox*Q + q] += dy[n, oy, ox, q] * x[n, oy*sh + i*dh - pad_top, ox + j*dw - pad_left, q]
        db_tiled[c, ox*Q + q]       += dy[n, oy, ox, q]
    and summing over chunks and pixels afterwards gives dk[i, j, q] and dbias[q].

    Optimisations:
    - prange over T chunks of rows (T = the number of threads), each with its own partial
      sums: no two threads ever add into the same array, and the merge is one small sum.
    - the partial sums are kept per pixel of the row (tiled, like the kernel in the
      forward), so each tap is one long unit-stride loop over the flat row that
      vectorises (accumulating straight into dk[i, j, q] would be a reduction, which
      Numba does not vectorise without fastmath); the per-pixel sums are added up once.
    - dbias rides along in the same pass over dy.
    """
    n_chunks, kh, kw, row_len = dk_tiled.shape
    n_batch, out_h, out_w, channels = dy.shape
    height, width = x.shape[1], x.shape[2]
    n_rows = n_batch * out_h
    for chunk in prange(n_chunks):
        db = db_tiled[chunk]  # (W_out*Q,)
        for row in range(chunk * n_rows // n_chunks, (chunk + 1) * n_rows // n_chunks):
            n = row // out_h
            oy = row % out_h
            dy_row = dy[n, oy].reshape(row_len)  # (W_out*Q,)
            for t in range(row_len):
                db[t] += dy_row[t]
            for i in range(kh):
                iy = oy * sh + i * dh - pad_top
                if iy < 0 or iy >= height:
                    continue
                x_row = x[n, iy].reshape(width * channels)  # (W*Q,)
                for j in range(kw):
                    shift = j * dw - pad_left  # tap j of pixel ox reads input pixel ox + shift
                    lo = min(max(0, -shift), out_w)
                    hi = max(lo, min(out_w, width - shift))
                    dk_seg = dk_tiled[chunk, i, j, lo * channels : hi * channels]
                    dy_seg = dy_row[lo * channels : hi * channels]
                    x_seg = x_row[(lo + shift) * channels : (hi + shift) * channels]
                    for t in range((hi - lo) * channels):
                        dk_seg[t] += dy_seg[t] * x_seg[t]


@kernel
def _depthwise_backward_rows3_kernel(dx, dk_tiled, db_tiled, dy, x, k_flipped, pad_top, dw, pad_left,
                                     act, scale, scale_alpha, zero, dbx_tiled):
    """Row and column stride 1, three kernel rows, no row dilation, finite kernel: dx, dk
    and dbias in one pass over dy and x, two rows at a time.

    dx (N, H, W, Q) is written; dk_tiled (T, 3, kw, W_out*Q) and db_tiled (T, W_out*Q) are
    written and must arrive zeroed (summed afterwards over T and over the pixels, as for
    _depthwise_kernel_grad_rows_kernel); dy (N, H_out, W_out, Q); x (N, H, W, Q);
    k_flipped (3, kw, W*Q) the kernel flipped in both axes and tiled along a row of dx.

    Why one pass: the separate kernels stream dy twice (once for dx, once for dk) and x once.
    Here each thread takes the rows of dx in pairs r, r+1 and copies the four rows of dy that
    they read, and the four rows of x that dy rows r, r+1 meet, into rings of zero-padded rows
    (as in _depthwise_rows_kernel; slot = row % 4, and a fifth slot of zeros stands for the
    rows above and below the image). Then, with those eight rows in cache (t = dy_pad_top;
    kf = k_flipped; every y and x below shifted by j*dw pixels for column tap j)::

        position s   dy ring: dy row r - t + s      x ring: x row r - pad_top + s
            0            ya                             xa
            1            yb                             xb
            2            yc                             xc
            3            yd                             xd

        dx[r]    = sum_j  ya*kf[0, j] + yb*kf[1, j] + yc*kf[2, j]    each kernel value loaded
        dx[r+1]  = sum_j  yb*kf[0, j] + yc*kf[1, j] + yd*kf[2, j]    serves both rows
        dk[0, j] += dy0*xa + dy1*xb       dy0 = dy row r   (position t),
        dk[1, j] += dy0*xb + dy1*xc       dy1 = dy row r+1 (position t + 1)
        dk[2, j] += dy0*xc + dy1*xd       dbias += dy0 + dy1

    dx is the "full" correlation of dy with the flipped kernel: dy padded by t = kh - 1 - pad_top
    rows above (kh = 3) and (kw - 1)*dw - pad_left pixels on the left. The dk lines do 6
    multiply-adds per 12 loads and stores, against 24 one row and one tap at a time.
    The next pair, r+2 and r+3, reuses the rows at positions 2 and 3. A last row without a
    partner (dx: odd H; dk and dbias: r + 1 = H_out) is done alone.

    The padding rows and pixels are zeros. For dx, 0*k = 0 (the kernel is finite). For dk,
    a tap on the padding adds dy*0, exact for a finite dy; the caller detects a non-finite
    dy from db_tiled (a non-finite dy value makes its partial bias sum non-finite) and then
    recomputes dk and dbias with _depthwise_kernel_grad_rows_kernel, which skips those taps.

    act = 1 (relu) or 2 (selu), when x = act(z) is the output of the layer before (M = 1): each
    finished dx row, still in cache, becomes that layer's dz = dx * act'(x) (act' from x, as
    activations._backward_bias_kernel takes it from y), and dbx_tiled (T, W*Q), zeroed, gets
    its sums (that layer's dbias: summed over T and the pixels). act = 0: dx as it is.

    The forward keeps _depthwise_rows_kernel: two rows per pass did not pay there, and four dy
    rows into one dk tap per loop lost to the three taps of two rows here (docs/performance.md).
    """
    n_chunks, _, kw, row_len = dk_tiled.shape  # row_len = W_out*Q
    kh = 3  # the kernel rows this kernel is written for (k0, k1, k2 and d0, d1, d2 below)
    n_batch, height, width, channels = x.shape
    out_h, out_w = dy.shape[1], dy.shape[2]
    dx_len = width * channels
    # dy's padding for the full correlation that gives dx: the kernel's span less the forward's padding.
    dy_pad_top, dy_pad_left = kh - 1 - pad_top, (kw - 1) * dw - pad_left
    dy_padded_len = (width + (kw - 1) * dw) * channels  # the padded dy pixels one dx row reads
    dy_copied = min(row_len, dy_padded_len - dy_pad_left * channels)  # values of dy copied per row
    x_padded_len = (out_w + (kw - 1) * dw) * channels  # the padded x pixels one dy row meets
    x_copied = min(dx_len, x_padded_len - pad_left * channels)  # values of x copied per row
    pair_rows = kh + 1  # the rows of dy (and of x) that a pair of rows meets: 4
    zero_slot = pair_rows  # the ring slot that stays zero: rows above and below the image
    pairs = (height + 1) // 2  # pairs of dx rows per image
    n_pairs = n_batch * pairs
    for chunk in prange(n_chunks):
        # Slots 0-3: the last four rows this thread used, zero-padded (held[s] = n*rows + row of
        # the row in slot s); slot 4 (zero_slot) stays zero.
        dy_ring = np.zeros((pair_rows + 1, dy_padded_len), dtype=dx.dtype)  # (5, (W + (kw-1)*dw)*Q)
        x_ring = np.zeros((pair_rows + 1, x_padded_len), dtype=dx.dtype)  # (5, (W_out + (kw-1)*dw)*Q)
        dy_held = np.full(pair_rows, -1, dtype=np.int64)  # (4,)
        x_held = np.full(pair_rows, -1, dtype=np.int64)  # (4,)
        dy_slots = np.empty(pair_rows, dtype=np.int64)  # ring slot of the dy row at each position s
        x_slots = np.empty(pair_rows, dtype=np.int64)  # ring slot of the x row at each position s
        db = db_tiled[chunk]  # (W_out*Q,)
        dbx = dbx_tiled[chunk]  # (W*Q,) with act != 0
        for pair in range(chunk * n_pairs // n_chunks, (chunk + 1) * n_pairs // n_chunks):
            n = pair // pairs
            r = (pair % pairs) * 2
            for s in range(pair_rows):
                oy = r - dy_pad_top + s  # dy row at position s of this pair
                if oy < 0 or oy >= out_h:
                    dy_slots[s] = zero_slot
                else:
                    dy_slots[s] = oy % pair_rows
                    if dy_held[oy % pair_rows] != n * out_h + oy:  # not there yet: copy it in, after the padding
                        source = dy[n, oy].reshape(row_len)[:dy_copied]  # (W_out*Q,)
                        target = dy_ring[oy % pair_rows, dy_pad_left * channels : dy_pad_left * channels + dy_copied]
                        for t in range(dy_copied):
                            target[t] = source[t]
                        dy_held[oy % pair_rows] = n * out_h + oy
                iy = r - pad_top + s  # x row at position s of this pair
                if iy < 0 or iy >= height:
                    x_slots[s] = zero_slot
                else:
                    x_slots[s] = iy % pair_rows
                    if x_held[iy % pair_rows] != n * height + iy:  # likewise after pad_left zero pixels
                        source = x[n, iy].reshape(dx_len)[:x_copied]  # (W*Q,)
                        target = x_ring[iy % pair_rows, pad_left * channels : pad_left * channels + x_copied]
                        for t in range(x_copied):
                            target[t] = source[t]
                        x_held[iy % pair_rows] = n * height + iy
            # dx rows r and r+1 (only r if it is the last).
            dx0 = dx[n, r].reshape(dx_len)  # (W*Q,)
            if r + 1 == height:
                for t in range(dx_len):
                    dx0[t] = 0
            dx1 = dx0 if r + 1 == height else dx[n, r + 1].reshape(dx_len)  # (W*Q,)
            for j in range(kw):
                s = j * dw * channels  # tap j of pixel ix reads padded dy pixel ix + j*dw
                ya, yb = dy_ring[dy_slots[0], s : s + dx_len], dy_ring[dy_slots[1], s : s + dx_len]
                yc, yd = dy_ring[dy_slots[2], s : s + dx_len], dy_ring[dy_slots[3], s : s + dx_len]
                k0, k1, k2 = k_flipped[0, j], k_flipped[1, j], k_flipped[2, j]
                if r + 1 == height:
                    for t in range(dx_len):
                        dx0[t] += ya[t] * k0[t] + yb[t] * k1[t] + yc[t] * k2[t]
                elif j == 0:
                    for t in range(dx_len):
                        dx0[t] = ya[t] * k0[t] + yb[t] * k1[t] + yc[t] * k2[t]
                        dx1[t] = yb[t] * k0[t] + yc[t] * k1[t] + yd[t] * k2[t]
                else:
                    for t in range(dx_len):
                        dx0[t] += ya[t] * k0[t] + yb[t] * k1[t] + yc[t] * k2[t]
                        dx1[t] += yb[t] * k0[t] + yc[t] * k1[t] + yd[t] * k2[t]
            if act != 0:  # dx rows r, r+1 -> dz of the layer before, and its bias sums
                for below in range(2 if r + 1 < height else 1):
                    dx_row, x_row = (dx0, x[n, r].reshape(dx_len)) if below == 0 else (dx1, x[n, r + 1].reshape(dx_len))
                    for t in range(dx_len):
                        if act == 2:
                            grad = dx_row[t] * (x_row[t] + scale_alpha if x_row[t] < zero else scale)
                        else:
                            grad = dx_row[t] if x_row[t] > zero else zero
                        dx_row[t] = grad
                        dbx[t] += grad
            # dk and dbias from dy rows r and r+1 (dy has H_out rows, H_out <= H).
            if r >= out_h:
                continue
            lone = r + 1 == out_h
            start = dy_pad_left * channels
            dy0 = dy_ring[dy_slots[dy_pad_top], start : start + row_len]  # (W_out*Q,) dy row r
            dy1 = dy0 if lone else dy_ring[dy_slots[dy_pad_top + 1], start : start + row_len]  # dy row r+1
            for j in range(kw):
                s = j * dw * channels  # tap j of pixel ox meets padded x pixel ox + j*dw
                xa, xb = x_ring[x_slots[0], s : s + row_len], x_ring[x_slots[1], s : s + row_len]
                xc, xd = x_ring[x_slots[2], s : s + row_len], x_ring[x_slots[3], s : s + row_len]
                d0, d1, d2 = dk_tiled[chunk, 0, j], dk_tiled[chunk, 1, j], dk_tiled[chunk, 2, j]
                if lone:
                    for t in range(row_len):
                        d0[t] += dy0[t] * xa[t]
                        d1[t] += dy0[t] * xb[t]
                        d2[t] += dy0[t] * xc[t]
                else:
                    for t in range(row_len):
                        d0[t] += dy0[t] * xa[t] + dy1[t] * xb[t]
                        d1[t] += dy0[t] * xb[t] + dy1[t] * xc[t]
                        d2[t] += dy0[t] * xc[t] + dy1[t] * xd[t]
            for t in range(row_len):
                db[t] += dy0[t] if lone else dy0[t] + dy1[t]
