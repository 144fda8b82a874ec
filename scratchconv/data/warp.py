"""The affine warp of Keras 2's ``ImageDataGenerator``, bit for bit, in one Numba pass.

Keras's ``apply_affine_transform`` (keras.src.legacy.preprocessing.image) builds one 3x3 matrix
from rotation, shift, shear and zoom, then calls ``scipy.ndimage.affine_transform`` once per
channel. This module does the same arithmetic:

1. ``keras_affine_matrix``: the matrix, built with the same NumPy calls in the same order
   (rotation @ shift @ shear @ zoom, centred by ``transform_matrix_offset_center``, then rows and
   columns 0/1 swapped because Keras writes the matrix for (x, y) and NumPy indexes (row, col)).
   A quirk kept on purpose: after the swap, ``tx`` (drawn from ``height_shift_range`` and scaled by
   the height) moves the image along the COLUMNS and ``ty`` along the rows, and the centre offsets
   are swapped too (``h/2`` is applied to columns), which only matters for non-square images.
2. The sampling, as SciPy's C code ``NI_GeometricTransform`` (ni_interpolation.c) does it for
   ``order`` 0 and 1, in float64: for the output pixel (i, j), the input coordinate along axis a
   is ``(offset[a] + i * m[a, 0]) + j * m[a, 1]``; out-of-range coordinates are mapped by
   ``map_coordinate`` (below) for the fill mode; order 1 takes the 2x2 taps at ``floor(c)`` with
   weights ``w0 = 1 - frac``, ``w1 = 1 - w0`` (not ``frac``: SciPy makes the weights sum to one)
   and sums ``value * w_row * w_col`` over the taps in row-major order; order 0 takes the pixel at
   ``floor(c + 0.5)`` (so a coordinate exactly on .5 rounds UP, -0.5 to 0 and 1.5 to 2). Taps
   that fall outside the image are folded back with the 'mirror' rule for 'constant' and 'wrap'
   (SciPy's ``_get_spline_boundary_mode``), with the fill mode's own rule otherwise. The float64
   sum is rounded once to the output dtype.
3. The flips, after the warp (``flip_axis``): folded into where the kernel writes.

Keras's fill modes are SciPy's modes of the same name. Two of them are not what the name
suggests: 'wrap' is SciPy's legacy wrap, periodic with period ``size - 1`` (not 'grid-wrap'), and
'constant' gives ``cval`` for any coordinate outside [0, size - 1] (no blending at the border).
"""

import numpy as np

from ..kernels.numba_config import kernel, prange, serial_kernel

# SciPy's boundary codes (scipy.ndimage._ni_support._extend_mode_to_code)
NEAREST, WRAP, REFLECT, MIRROR, CONSTANT = 0, 1, 2, 3, 4
FILL_MODES = {"nearest": NEAREST, "wrap": WRAP, "reflect": REFLECT, "constant": CONSTANT}
# An input coordinate beyond this is refused before the kernel runs: SciPy's C code (and ours)
# converts coordinates to integers, which overflows for absurd transforms.
MAX_COORDINATE = 2.0**40


def keras_affine_matrix(theta=0, tx=0, ty=0, shear=0, zx=1, zy=1, h=1, w=1):
    """Keras's ``apply_affine_transform`` matrix for an (h, w) image, or None for the identity.

    Returns ``(matrix, offset)``: matrix (2, 2) and offset (2,) float64 in (row, col) order, as
    passed to ``scipy.ndimage.affine_transform``: input coordinate = matrix @ (i, j) + offset.
    theta and shear in degrees. None means Keras skips the warp (the image is returned as is).
    """
    transform_matrix = None
    if theta != 0:
        theta = np.deg2rad(theta)
        transform_matrix = np.array([[np.cos(theta), -np.sin(theta), 0],
                                     [np.sin(theta), np.cos(theta), 0],
                                     [0, 0, 1]])
    if tx != 0 or ty != 0:
        shift_matrix = np.array([[1, 0, tx], [0, 1, ty], [0, 0, 1]])
        transform_matrix = shift_matrix if transform_matrix is None else np.dot(transform_matrix, shift_matrix)
    if shear != 0:
        shear = np.deg2rad(shear)
        shear_matrix = np.array([[1, -np.sin(shear), 0], [0, np.cos(shear), 0], [0, 0, 1]])
        transform_matrix = shear_matrix if transform_matrix is None else np.dot(transform_matrix, shear_matrix)
    if zx != 1 or zy != 1:
        zoom_matrix = np.array([[zx, 0, 0], [0, zy, 0], [0, 0, 1]])
        transform_matrix = zoom_matrix if transform_matrix is None else np.dot(transform_matrix, zoom_matrix)
    if transform_matrix is None:
        return None
    # transform_matrix_offset_center(transform_matrix, h, w)
    o_x, o_y = float(h) / 2 - 0.5, float(w) / 2 - 0.5
    offset_matrix = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset_matrix = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    transform_matrix = np.dot(np.dot(offset_matrix, transform_matrix), reset_matrix)
    # (x, y) -> (row, col): swap columns 0 and 1, then rows 0 and 1 (channels_last: col_axis > row_axis)
    transform_matrix[:, [0, 1]] = transform_matrix[:, [1, 0]]
    transform_matrix[[0, 1]] = transform_matrix[[1, 0]]
    return (np.ascontiguousarray(transform_matrix[:2, :2], dtype=np.float64),
            np.ascontiguousarray(transform_matrix[:2, 2], dtype=np.float64))


# --------------------------------------------------------------------------- SciPy's sampling rules


@serial_kernel
def map_coordinate(coord, length, mode):
    """SciPy's ``map_coordinate``: fold a coordinate outside [0, length - 1] back in for ``mode``.

    'constant' returns -1 (the caller then uses cval). The integer divisions truncate toward zero,
    as C's ``(npy_intp)`` cast does.
    """
    if coord < 0:
        if mode == MIRROR:
            if length <= 1:
                return 0.0
            sz2 = 2 * length - 2
            coord = sz2 * int(-coord / sz2) + coord
            return coord + sz2 if coord <= 1 - length else -coord
        if mode == REFLECT:
            if length <= 1:
                return 0.0
            sz2 = 2 * length
            if coord < -sz2:
                coord = sz2 * int(-coord / sz2) + coord
            # SciPy: "-1e-15 check to avoid possibility that: (-in - 1) == -1"
            return coord + sz2 if coord < -length else (1e-15 if coord > -1e-15 else -coord) - 1
        if mode == WRAP:
            if length <= 1:
                return 0.0
            sz = length - 1
            return coord + sz * (int(-coord / sz) + 1)
        if mode == NEAREST:
            return 0.0
        return -1.0  # CONSTANT
    if coord > length - 1:
        if mode == MIRROR:
            if length <= 1:
                return 0.0
            sz2 = 2 * length - 2
            coord -= sz2 * int(coord / sz2)
            return sz2 - coord if coord >= length else coord
        if mode == REFLECT:
            if length <= 1:
                return 0.0
            sz2 = 2 * length
            coord -= sz2 * int(coord / sz2)
            return sz2 - coord - 1 if coord >= length else coord
        if mode == WRAP:
            if length <= 1:
                return 0.0
            sz = length - 1
            return coord - sz * int(coord / sz)
        if mode == NEAREST:
            return float(length - 1)
        return -1.0  # CONSTANT
    return coord


@serial_kernel
def axis_taps(coord, length, order, mode):
    """The taps along one axis for an input coordinate: ``(outside, i0, i1, w0, w1)``.

    outside: True when 'constant' puts cval on the whole pixel. i0, i1: the input indices of the
    (order + 1) taps (i1 unused at order 0); w0, w1: their weights (order 1).
    """
    cc = coord
    if mode != NEAREST:  # SciPy leaves 'nearest' coordinates unmapped: its taps are clamped below
        cc = map_coordinate(cc, length, mode)
    if not (cc > -1.0 or mode == NEAREST):
        return True, 0, 0, 0.0, 0.0
    first = np.floor(cc) if order == 1 else np.floor(cc + 0.5)
    w0 = 1.0 - (cc - first)
    w1 = 1.0 - w0
    # Only 'nearest' leaves `first` far outside; its taps clamp to the border either way, so bound
    # it before the integer conversion (the weights above keep the unbounded fraction, as SciPy).
    start = int(min(max(first, -2.0), length + 1.0))
    i0, i1 = start, start + order
    if start < 0 or start + order >= length:  # taps outside: fold them back (SciPy's edge offsets)
        tap_mode = MIRROR if mode == CONSTANT or mode == WRAP else mode
        i0 = int(map_coordinate(float(start), length, tap_mode))
        i1 = int(map_coordinate(float(start + order), length, tap_mode))
    return False, i0, i1, w0, w1


# --------------------------------------------------------------------------- the loop version


def warp_image_naive(x, matrix, offset, order=1, mode=NEAREST, cval=0.0, flip_horizontal=False,
                     flip_vertical=False):
    """One image, pixel by pixel: what ``warp_kernel`` computes, without the speed.

    x: (H, W, C); matrix (2, 2), offset (2,) from ``keras_affine_matrix`` (None: no warp);
    returns (H, W, C) of x's dtype (float32/float64).
    out[i, j, c] = sum over taps (a, b) of x[r_a, c_b, c] * w_row[a] * w_col[b]   (order 1)
    """
    h, w, channels = x.shape
    out = np.empty_like(x)  # (H, W, C)
    for i in range(h):
        for j in range(w):
            if matrix is None:
                out[i, j] = x[i, j]
                continue
            row = (offset[0] + i * matrix[0, 0]) + j * matrix[0, 1]
            col = (offset[1] + i * matrix[1, 0]) + j * matrix[1, 1]
            outside_r, r0, r1, wr0, wr1 = axis_taps(row, h, order, mode)
            outside_c, c0, c1, wc0, wc1 = axis_taps(col, w, order, mode) if not outside_r else (True, 0, 0, 0, 0)
            for c in range(channels):
                if outside_r or outside_c:
                    out[i, j, c] = cval
                elif order == 0:
                    out[i, j, c] = 0.0 + float(x[r0, c0, c])
                else:
                    total = 0.0
                    for r, wr in ((r0, wr0), (r1, wr1)):
                        for col_index, wc in ((c0, wc0), (c1, wc1)):
                            total += float(x[r, col_index, c]) * wr * wc
                    out[i, j, c] = total
    if flip_horizontal:
        out = out[:, ::-1]
    if flip_vertical:
        out = out[::-1]
    return out


# --------------------------------------------------------------------------- the Numba kernel


@kernel
def warp_kernel(out, x, transforms, flags, order, mode, cval):
    """Warp a batch: out[n] = the warped (and flipped) x[n], one pass, every channel at once.

    out: (N, H, W, C) float32/float64;  x: (N, H, W, C) uint8/float32/float64;
    transforms: (N, 6) float64 = m00, m01, m10, m11, offset_row, offset_col (``keras_affine_matrix``);
    flags: (N, 3) int64 = identity (copy, no warp), flip_horizontal, flip_vertical.
    prange over the output rows k = n*H + i (each written by one iteration only). The taps and
    weights are computed once per pixel and reused for every channel.
    """
    n_batch, h, w, channels = x.shape
    for k in prange(n_batch * h):
        n = k // h
        i = k - n * h
        out_i = h - 1 - i if flags[n, 2] else i
        m00, m01, m10, m11 = transforms[n, 0], transforms[n, 1], transforms[n, 2], transforms[n, 3]
        row_base = transforms[n, 4] + i * m00  # SciPy's order: (offset + i*m[a, 0]) + j*m[a, 1]
        col_base = transforms[n, 5] + i * m10
        flip_j = flags[n, 1] != 0
        if flags[n, 0]:
            for j in range(w):
                out_j = w - 1 - j if flip_j else j
                for c in range(channels):
                    out[n, out_i, out_j, c] = x[n, i, j, c]
            continue
        for j in range(w):
            out_j = w - 1 - j if flip_j else j
            row = row_base + j * m01
            col = col_base + j * m11
            if order == 1 and row >= 0.0 and row < h - 1 and col >= 0.0 and col < w - 1:
                # most pixels: inside, no folding (what axis_taps gives here, sooner)
                outside = False
                first_r, first_c = np.floor(row), np.floor(col)
                r0, c0 = int(first_r), int(first_c)
                r1, c1 = r0 + 1, c0 + 1
                wr0, wc0 = 1.0 - (row - first_r), 1.0 - (col - first_c)
                wr1, wc1 = 1.0 - wr0, 1.0 - wc0
            elif mode == NEAREST:
                # never outside: the taps clamp to the border (what axis_taps gives, sooner)
                outside = False
                first_r = np.floor(row) if order == 1 else np.floor(row + 0.5)
                first_c = np.floor(col) if order == 1 else np.floor(col + 0.5)
                r0, r1 = int(min(max(first_r, 0.0), h - 1.0)), int(min(max(first_r + 1.0, 0.0), h - 1.0))
                c0, c1 = int(min(max(first_c, 0.0), w - 1.0)), int(min(max(first_c + 1.0, 0.0), w - 1.0))
                wr0, wc0 = 1.0 - (row - first_r), 1.0 - (col - first_c)
                wr1, wc1 = 1.0 - wr0, 1.0 - wc0
            else:
                outside, r0, r1, wr0, wr1 = axis_taps(row, h, order, mode)
                c0, c1, wc0, wc1 = 0, 0, 0.0, 0.0
                if not outside:  # SciPy stops at the first axis outside
                    outside, c0, c1, wc0, wc1 = axis_taps(col, w, order, mode)
            if outside:
                for c in range(channels):
                    out[n, out_i, out_j, c] = cval
            elif order == 0:
                for c in range(channels):
                    out[n, out_i, out_j, c] = 0.0 + float(x[n, r0, c0, c])
            else:  # SciPy's sum: taps in row-major order, each (value * w_row) * w_col
                for c in range(channels):
                    total = 0.0
                    total += float(x[n, r0, c0, c]) * wr0 * wc0
                    total += float(x[n, r0, c1, c]) * wr0 * wc1
                    total += float(x[n, r1, c0, c]) * wr1 * wc0
                    total += float(x[n, r1, c1, c]) * wr1 * wc1
                    out[n, out_i, out_j, c] = total


def pack_transforms(affines, flips_horizontal, flips_vertical):
    """(transforms (N, 6) float64, flags (N, 3) int64) for ``warp_kernel`` from N
    ``keras_affine_matrix`` results (None: identity) and the flips; checks the coordinates' range."""
    n = len(affines)
    transforms = np.zeros((n, 6))  # (N, 6)
    flags = np.zeros((n, 3), dtype=np.int64)  # (N, 3)
    for k, affine in enumerate(affines):
        flags[k, 1], flags[k, 2] = bool(flips_horizontal[k]), bool(flips_vertical[k])
        if affine is None:
            flags[k, 0] = 1
            continue
        matrix, offset = affine
        transforms[k] = matrix[0, 0], matrix[0, 1], matrix[1, 0], matrix[1, 1], offset[0], offset[1]
    if not np.isfinite(transforms).all():
        raise ValueError("transform parameters must be finite (a NaN or inf reached the affine matrix)")
    return transforms, flags


def warp_batch(x, transforms, flags, order, mode, cval, out_dtype):
    """Allocate and call ``warp_kernel``; x (N, H, W, C) uint8/float32/float64, returns (N, H, W, C)
    of ``out_dtype``. Refuses transforms that map any pixel beyond ``MAX_COORDINATE``."""
    n, h, w, _ = x.shape
    corners = np.array([[0, 0], [0, w - 1], [h - 1, 0], [h - 1, w - 1]], dtype=np.float64)  # (4, 2)
    matrices = transforms[:, :4].reshape(-1, 2, 2)  # (N, 2, 2)
    reach = np.abs(np.einsum("nab,kb->nka", matrices, corners) + transforms[:, None, 4:])  # (N, 4, 2)
    if n and reach[flags[:, 0] == 0].max(initial=0.0) > MAX_COORDINATE:
        raise ValueError(f"the transform maps pixels more than {MAX_COORDINATE:.0e} pixels away; "
                         "check the zoom/shift parameters")
    out = np.empty(x.shape, dtype=out_dtype)  # (N, H, W, C)
    if out.size:
        warp_kernel(out, np.ascontiguousarray(x), transforms, flags, int(order), int(mode), float(cval))
    return out


def warm_up():
    """Run the kernel once on a 1x1 image (compiles or loads it; Numba picks its threading layer)."""
    one = np.zeros((1, 1, 1, 1), dtype=np.uint8)  # (1, 1, 1, 1): the decoded images' dtype
    warp_kernel(np.empty(one.shape, np.float32), one, np.zeros((1, 6)), np.ones((1, 3), dtype=np.int64), 1, NEAREST, 0.0)
