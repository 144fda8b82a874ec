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

    The separate kernels read dy twice (once for dx, once for dk) and x once, each a
    3.2 MB stream at 32x28x28x32 (a plain copy of it takes a third of a forward's time
    here). Here each thread walks its rows once: for rows r, r+1 it copies the four
    rows of dy that dx rows r, r+1 read, and the four rows of x that dy rows r, r+1 meet,
    into rings of zero-padded rows (as in _depthwise_rows_kernel), then, with the rows in
    cache:
    - dx rows r, r+1 (a correlation of dy with the flipped kernel, padded by the complement
      of the forward's padding): for column tap j, with ya..yd the four dy rows,
          dx[r]   = sum_j ya*kf[0, j] + yb*kf[1, j] + yc*kf[2, j]
          dx[r+1] = sum_j yb*kf[0, j] + yc*kf[1, j] + yd*kf[2, j]
      each loaded kernel value serves both rows;
    - dk and dbias from dy rows r, r+1 (g0, g1) and x rows xa..xd:
          dk[0, j] += g0*xa + g1*xb;  dk[1, j] += g0*xb + g1*xc;  dk[2, j] += g0*xc + g1*xd
      (12 loads and stores per 6 multiply-adds instead of 24 one row and one tap at a time).
    The padding rows and pixels are zeros. For dx, 0*k = 0 (the kernel is finite). For dk,
    a tap on the padding adds g*0, exact for a finite dy; the caller detects a non-finite
    dy from db_tiled (a non-finite dy value makes its partial bias sum non-finite) and then
    recomputes dk and dbias with _depthwise_kernel_grad_rows_kernel, which skips those taps.
    A lone last row (odd H, or H_out = H - 1) takes one row at a time.

    act = 1 (relu) or 2 (selu), when x = act(z) is the output of the layer before (M = 1): each
    finished dx row, still in cache, becomes that layer's dz = dx * act'(x) (act' from x, as
    activations._backward_bias_kernel takes it from y), and dbx_tiled (T, W*Q), zeroed, gets
    its sums (that layer's dbias: summed over T and the pixels). act = 0: dx as it is.

    Measured (one thread, CPU time, batch 32, float32, 3x3 'same', interleaved with the two
    separate kernels; shared machine): the backward 1.94 -> 1.54 ms at 28x28x32, 1.02 ->
    0.89 ms at 14x14x64, 0.45 -> 0.45 ms at 7x7x128. Two rows per pass alone: in cache, the
    dk loop takes 51 instead of 87 ps per multiply-add, the dx loop 53 instead of 61. For the
    forward, two rows per pass measured no faster end to end (and slower with an odd H_out),
    so it keeps _depthwise_rows_kernel. Four rows of dy into one dk tap per loop measured
    slower (60 ps) than the three taps of two rows here.
    """
    n_chunks, _, kw, row_len = dk_tiled.shape  # row_len = W_out*Q
    n_batch, height, width, channels = x.shape
    out_h, out_w = dy.shape[1], dy.shape[2]
    dx_len = width * channels
    dx_top, dx_left = 2 - pad_top, (kw - 1) * dw - pad_left  # padding of dy for dx
    dy_padded_len = (width + (kw - 1) * dw) * channels  # the padded dy pixels one dx row reads
    dy_copied = min(row_len, dy_padded_len - dx_left * channels)  # values of dy copied per row
    x_padded_len = (out_w + (kw - 1) * dw) * channels  # the padded x pixels one dy row meets
    x_copied = min(dx_len, x_padded_len - pad_left * channels)  # values of x copied per row
    pairs = (height + 1) // 2  # pairs of dx rows per image
    n_pairs = n_batch * pairs
    for chunk in prange(n_chunks):
        # Slots 0-3: the last four rows this thread used, zero-padded (held[s] = n*rows + row of
        # the row in slot s); slot 4 stays zero: the rows above and below the image.
        dy_ring = np.zeros((5, dy_padded_len), dtype=dx.dtype)  # (5, (W + (kw-1)*dw)*Q)
        x_ring = np.zeros((5, x_padded_len), dtype=dx.dtype)  # (5, (W_out + (kw-1)*dw)*Q)
        dy_held = np.full(4, -1, dtype=np.int64)  # (4,)
        x_held = np.full(4, -1, dtype=np.int64)  # (4,)
        dy_slots = np.empty(4, dtype=np.int64)  # ring slot of each of the four dy rows
        x_slots = np.empty(4, dtype=np.int64)  # ring slot of each of the four x rows
        db = db_tiled[chunk]  # (W_out*Q,)
        dbx = dbx_tiled[chunk]  # (W*Q,) with act != 0
        for pair in range(chunk * n_pairs // n_chunks, (chunk + 1) * n_pairs // n_chunks):
            n = pair // pairs
            r = (pair % pairs) * 2
            for s in range(4):
                oy = r - dx_top + s  # dy row s of this pair
                if oy < 0 or oy >= out_h:
                    dy_slots[s] = 4
                else:
                    dy_slots[s] = oy % 4
                    if dy_held[oy % 4] != n * out_h + oy:  # not there yet: copy it in after dx_left zero pixels
                        source = dy[n, oy].reshape(row_len)[:dy_copied]  # (W_out*Q,)
                        target = dy_ring[oy % 4, dx_left * channels : dx_left * channels + dy_copied]
                        for t in range(dy_copied):
                            target[t] = source[t]
                        dy_held[oy % 4] = n * out_h + oy
                iy = r - pad_top + s  # x row s of this pair
                if iy < 0 or iy >= height:
                    x_slots[s] = 4
                else:
                    x_slots[s] = iy % 4
                    if x_held[iy % 4] != n * height + iy:  # likewise after pad_left zero pixels
                        source = x[n, iy].reshape(dx_len)[:x_copied]  # (W*Q,)
                        target = x_ring[iy % 4, pad_left * channels : pad_left * channels + x_copied]
                        for t in range(x_copied):
                            target[t] = source[t]
                        x_held[iy % 4] = n * height + iy
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
                    d, xr = (dx0, x[n, r].reshape(dx_len)) if below == 0 else (dx1, x[n, r + 1].reshape(dx_len))
                    for t in range(dx_len):
                        if act == 2:
                            g = d[t] * (xr[t] + scale_alpha if xr[t] < zero else scale)
                        else:
                            g = d[t] if xr[t] > zero else zero
                        d[t] = g
                        dbx[t] += g
            # dk and dbias from dy rows r and r+1 (dy has H_out rows, H_out <= H).
            if r >= out_h:
                continue
            lone = r + 1 == out_h
            start = dx_left * channels
            g0 = dy_ring[dy_slots[dx_top], start : start + row_len]  # (W_out*Q,) dy row r
            g1 = g0 if lone else dy_ring[dy_slots[dx_top + 1], start : start + row_len]  # dy row r+1
            for j in range(kw):
                s = j * dw * channels  # tap j of pixel ox meets padded x pixel ox + j*dw
                xa, xb = x_ring[x_slots[0], s : s + row_len], x_ring[x_slots[1], s : s + row_len]
                xc, xd = x_ring[x_slots[2], s : s + row_len], x_ring[x_slots[3], s : s + row_len]
                d0, d1, d2 = dk_tiled[chunk, 0, j], dk_tiled[chunk, 1, j], dk_tiled[chunk, 2, j]
                if lone:
                    for t in range(row_len):
                        d0[t] += g0[t] * xa[t]
                        d1[t] += g0[t] * xb[t]
                        d2[t] += g0[t] * xc[t]
                else:
                    for t in range(row_len):
                        d0[t] += g0[t] * xa[t] + g1[t] * xb[t]
                        d1[t] += g0[t] * xb[t] + g1[t] * xc[t]
                        d2[t] += g0[t] * xc[t] + g1[t] * xd[t]
            for t in range(row_len):
                db[t] += g0[t] if lone else g0[t] + g1[t]
