"""Standard (grouped) 2-D convolution, forward and backward: loop by loop, then fast.

Start from the loop twins in this file, ``conv2d_naive`` and ``conv2d_backward_naive``: their
docstrings give the formulas and their loops follow them one multiply-add at a time.

Shapes (NHWC, Keras layouts): x (N, H, W, C_in), kernel (kh, kw, C_in // groups, F),
bias (F,) or None, y (N, H_out, W_out, F). With Cg = C_in // groups and Fg = F // groups,
output channel f belongs to group grp = f // Fg and reads only the input channels
grp*Cg .. grp*Cg + Cg - 1; groups=1 is the ordinary convolution. ``g`` is always the window
Geometry (``arguments.conv_geometry``: sizes, strides, dilation, padding), never a gradient.

Which fast algorithm a call reaches, and why. The fast ``conv2d``/``conv2d_backward`` check the
arguments once (``_prepare`` = ``arguments.check_conv2d_args``); ``_conv2d_forward`` and ``_conv2d_backward`` then choose, in
this order:

    kernel holding Inf/NaN -> standard_taps.py: tap by tap over the pixels inside x, so the
        padding zeros are never multiplied by Inf (0*Inf = NaN); TensorFlow's float32 kernels
        skip the padding too. The fast methods below multiply padding zeros, exact only for
        a finite kernel.
    ``use_im2col`` (groups == 1 and few input channels for the filters, kh*kw*Cg < kw*Fg, like
        a first layer with 1 channel in and 32 out; or column strides) -> standard_im2col.py:
        every window unfolded as a row, one BLAS product with the kernel. There the row
        method's product would be wider (kw*Fg values per pixel against kh*kw*Cg), or would
        compute columns that no window starts at.
    ``winograd_pays`` (3x3, stride 1, dilation 1, groups == 1, 16 to 128 input channels and
        filters, 48 or more together, outputs of at least 7x7 pixels; narrower where NumPy's
        OpenBLAS cannot be called from the kernels) and x (and dy) finite -> standard_winograd.py:
        Winograd's minimal filtering, F(4x4, 3x3): 36 BLAS products per 6x6 input tile instead
        of 144 multiply-adds per channel pair, plus the tile transforms, each thread running its
        own chunks of tiles start to end (standard_winograd_fused.py). Where it does not pay
        (few channels: the products get too thin; tiny images: the tiles' padding) the
        measurements are in ``standard_winograd_fused.py``.
    otherwise (most layers) -> standard_rows.py, the row method: unfold only the kernel rows,
        one BLAS product per group, then shift and add the columns: an unfolded copy kh times
        the input, not kh*kw times.

"auto" picks by what the call can know (``PURPOSES``, ``auto_algorithm``): ``conv2d`` by the
forward's time, ``conv2d_backward`` by the backward's alone, and a Conv2D layer in training by
forward + a backward that reuses what the forward keeps; that backward runs the forward's algorithm.

``algorithm=`` on ``conv2d``/``conv2d_backward`` (and the Conv2D layer) forces one of
``ALGORITHMS`` instead of "auto"; the checks above for Inf/NaN still apply (a kernel holding
Inf/NaN always goes tap by tap, an input holding Inf/NaN never goes through Winograd's
transforms, whose sums would turn Inf into NaN), so every choice gives the same result.

Each backward is its forward's adjoint (the same matrices, run backwards), in the same module;
a dkernel that came out non-finite (a 0*Inf from the padding) is redone by the taps.
"""


import numpy as np

from . import activations
from .arguments import check_conv2d_args as _prepare
from .arguments import crop_padding, pad_input
from .standard_taps import _conv2d_backward_by_taps, _conv2d_by_taps
from .standard_im2col import conv2d_backward_im2col, conv2d_im2col, use_im2col
from .standard_rows import _image_chunks, conv2d_backward_rows, conv2d_rows
from .standard_winograd import KEEP_MAX_BYTES as WINOGRAD_KEEP_MAX_BYTES
from .standard_winograd import conv2d_winograd, tile_grid, winograd_pays, winograd_tile
from .standard_winograd_backward import conv2d_backward_winograd
from .pointwise import bias_gradient


ALGORITHMS = ("auto", "rows", "im2col", "winograd")


def check_algorithm(algorithm, kernel_size, strides, dilation_rate, groups):
    """algorithm, checked: one of ALGORITHMS; 'winograd' only for a 3x3 kernel at stride 1 and
    dilation 1 (the only convolution its matrices compute), 'im2col' only for groups == 1.
    Raises before any kernel runs."""
    if not isinstance(algorithm, str):
        raise TypeError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {ALGORITHMS}, got {algorithm!r}")
    if algorithm == "winograd" and (tuple(kernel_size), tuple(strides), tuple(dilation_rate)) != ((3, 3), (1, 1), (1, 1)):
        raise ValueError(f"algorithm='winograd' computes 3x3 kernels at strides 1 and dilation_rate 1, got kernel "
                         f"{tuple(kernel_size)}, strides {tuple(strides)}, dilation_rate {tuple(dilation_rate)}")
    if algorithm == "im2col" and groups != 1:
        raise ValueError(f"algorithm='im2col' computes groups=1 only, got groups={groups}")
    return algorithm


# What "auto" may know about a call (``purpose``), and so what it picks by:
#   "forward"   conv2d alone, or a layer's forward outside training: the forward's time alone;
#   "backward"  conv2d_backward with nothing kept from a forward: the backward's time alone, which
#               unfolds x (rows, im2col) or transforms its tiles (Winograd) again; the rules measured
#               so far pick as for the forward (docs/performance.md: im2col's backward, once faster
#               at 128x128x32 -> 32, lost to the row method's once page faults were out of the timing);
#   "training"  a Conv2D layer's forward in training (``keep=True``): a backward follows that reuses
#               what this forward keeps (the rows, or Winograd's V), so forward + that backward.
# With nothing kept the two passes are independent, and each picks by its own time alone.
PURPOSES = ("forward", "backward", "training")


def auto_algorithm(kernel, groups, g, purpose="forward", itemsize=4):
    """The algorithm "auto" runs for a finite kernel and finite arrays, for this ``purpose``."""
    if use_im2col(kernel, groups, g):
        return "im2col"
    if purpose == "training":
        algorithm = "winograd" if winograd_pays(kernel, groups, g) else "rows"
        if _keeps(algorithm, kernel, groups, g, itemsize):
            return algorithm  # the backward follows it (``_conv2d_backward``: kept)
        purpose = "forward"  # too large to keep: the forward picks by its own time, the backward follows it
    return "winograd" if winograd_pays(kernel, groups, g) else "rows"


def _keeps(algorithm, kernel, groups, g, itemsize):
    """Whether ``_conv2d_forward(keep=True)`` keeps the unfolded input for the backward with this
    algorithm (Winograd's V up to its KEEP_MAX_BYTES, the row method's rows up to this module's)."""
    kh, _, cg, _ = kernel.shape
    if algorithm == "winograd":
        tiles_h, tiles_w, alpha = tile_grid(g, winograd_tile(kernel, groups, g))
        return alpha * alpha * g.n * tiles_h * tiles_w * cg * groups * itemsize <= WINOGRAD_KEEP_MAX_BYTES
    return g.n * g.out_h * g.touched_w * groups * kh * cg * itemsize <= KEEP_MAX_BYTES


def _choose(kernel, groups, g, algorithm, *arrays, purpose="forward"):
    """The algorithm that runs for a finite kernel: algorithm unless "auto" (``auto_algorithm``);
    Winograd only for finite arrays (x, and dy in a backward)."""
    if algorithm == "auto":
        algorithm = auto_algorithm(kernel, groups, g, purpose, arrays[0].itemsize if arrays else 4)
    if algorithm == "winograd" and not all(np.isfinite(a).all() for a in arrays):
        return "rows"
    return algorithm


# --------------------------------------------------------------------------- forward


def conv2d_naive(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Grouped 2-D convolution, one multiply-add at a time.

    Parameters
    ----------
    x : (N, H, W, C_in) float32 or float64
    kernel : (kh, kw, C_in // groups, F), same dtype
    bias : (F,) or None
    strides, dilation_rate : int or (rows, cols), >= 1
    padding : 'valid' or 'same' (odd padding pixel at the bottom/right, as Keras)
    groups : int, divides C_in and F

    Returns
    -------
    y : (N, H_out, W_out, F), dtype of x, where (grp = f // Fg, Cg = C_in // groups)::

        y[n, oy, ox, f] = bias[f] + sum_{ky, kx, c} xp[n, oy*sh + ky*dh, ox*sw + kx*dw, grp*Cg + c]
                                                    * kernel[ky, kx, c, f]

    xp is x zero-padded; here its zeros are multiplied like any pixel, so an Inf weight
    that meets the padding gives NaN (as TensorFlow's float64 kernels), where the fast
    ``conv2d`` skips the padding (as TensorFlow's float32 kernels).
    """
    x, kernel, bias, _, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups)
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups  # output channels per group
    xp = pad_input(x, g)  # (N, H + pad_top + pad_bottom, W + pad_left + pad_right, C_in)
    y = np.zeros((g.n, g.out_h, g.out_w, filters), dtype=x.dtype)  # (N, H_out, W_out, F)
    for n in range(g.n):
        for oy in range(g.out_h):
            for ox in range(g.out_w):
                for f in range(filters):
                    grp = f // fg  # f's group: it reads input channels grp*cg .. grp*cg + cg - 1
                    total = x.dtype.type(0)
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * g.sh + ky * g.dh  # row in the padded input
                            ix = ox * g.sw + kx * g.dw  # column in the padded input
                            for c in range(cg):
                                total += xp[n, iy, ix, grp * cg + c] * kernel[ky, kx, c, f]
                    if bias is not None:
                        total += bias[f]
                    y[n, oy, ox, f] = total
    return y


def conv2d(x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1, algorithm="auto"):
    """Grouped 2-D convolution, fast. Same arguments, checks and result as ``conv2d_naive``.

    algorithm: "auto" picks by shape (see the module docstring); "rows", "im2col" or "winograd"
    force one (for tests, benchmarks and learners). Every one computes the same sum, and the
    tests hold each of them to the loop version and to Keras.
    """
    x, kernel, bias, _, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups)
    algorithm = check_algorithm(algorithm, kernel.shape[:2], (g.sh, g.sw), (g.dh, g.dw), groups)
    return _conv2d_forward(x, kernel, bias, g, groups, algorithm=algorithm)[0]


# The unfolded input a layer keeps for its backward (``_conv2d_forward``'s keep) takes up to this
# much, so that the memory kept stays bounded with large batches: keeping more showed no gain
# (see docs/performance.md).
KEEP_MAX_BYTES = 16 << 20


def _conv2d_forward(x, kernel, bias, g, groups, keep=False, algorithm="auto"):
    """conv2d on checked arguments: (y, kept).

    kept is None, or with ``keep=True`` the algorithm and the unfolded input, for
    ``_conv2d_backward``'s ``kept``: ("rows", rows of the whole batch) from the row method,
    ("im2col", cols^T) from the transposed im2col (one input channel), ("winograd", V) the
    transformed input tiles, each only up to KEEP_MAX_BYTES (above it (algorithm, None): the
    backward still follows the forward's algorithm). A layer keeps it between its forward and its backward, which
    then skips the unfold.
    """
    if not np.isfinite(kernel).all():
        with np.errstate(invalid="ignore"):
            return _conv2d_by_taps(x, kernel, bias, g, groups), None
    kh, kw, cg, filters = kernel.shape
    x = np.ascontiguousarray(x)  # (N, H, W, C_in)
    algorithm = _choose(kernel, groups, g, algorithm, x, purpose="training" if keep else "forward")
    if algorithm == "winograd":
        y, v = conv2d_winograd(x, kernel, bias, g, groups, keep, tile=winograd_tile(kernel, groups, g))
        return y, (("winograd", v) if keep else None)
    if algorithm == "im2col":
        cols_keep = keep and g.n * g.out_h * g.out_w * kh * kw * cg * x.itemsize <= KEEP_MAX_BYTES
        y, cols_t = conv2d_im2col(x, kernel, bias, g, _image_chunks(g.n, g.out_h * g.out_w, kh * kw * cg * x.itemsize),
                                  cols_keep)
        return y, (("im2col", cols_t) if keep else None)
    rows_keep = keep and _keeps("rows", kernel, groups, g, x.itemsize)
    y, rows = conv2d_rows(x, kernel, bias, g, groups, rows_keep)
    return y, (("rows", rows) if keep else None)


# --------------------------------------------------------------------------- backward


def conv2d_backward_naive(dy, x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1):
    """Gradients of ``conv2d`` by walking the forward loops and spreading each ``dy`` back.

    Parameters
    ----------
    dy : (N, H_out, W_out, F), the gradient of the loss with respect to y
    x, kernel, bias, strides, padding, dilation_rate, groups : as in ``conv2d_naive``

    Returns
    -------
    dx : (N, H, W, C_in)
    dkernel : (kh, kw, C_in // groups, F)
    dbias : (F,), or None when bias is None

    For every term of the forward sum (grp = f // Fg)::

        dxp[n, iy, ix, grp*Cg + c] += dy[n, oy, ox, f] * kernel[ky, kx, c, f]
        dkernel[ky, kx, c, f]      += dy[n, oy, ox, f] * xp[n, iy, ix, grp*Cg + c]

    with iy = oy*sh + ky*dh, ix = ox*sw + kx*dw; dx is dxp without its padding
    and dbias[f] = sum_{n, oy, ox} dy[n, oy, ox, f].
    """
    x, kernel, bias, dy, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, dy)
    kh, kw, cg, filters = kernel.shape
    fg = filters // groups
    xp = pad_input(x, g)  # (N, H_pad, W_pad, C_in)
    dxp = np.zeros(xp.shape, dtype=x.dtype)  # (N, H_pad, W_pad, C_in)
    dkernel = np.zeros(kernel.shape, dtype=x.dtype)  # (kh, kw, Cg, F)
    for n in range(g.n):
        for oy in range(g.out_h):
            for ox in range(g.out_w):
                for f in range(filters):
                    grp = f // fg
                    grad = dy[n, oy, ox, f]
                    for ky in range(kh):
                        for kx in range(kw):
                            iy = oy * g.sh + ky * g.dh
                            ix = ox * g.sw + kx * g.dw
                            for c in range(cg):
                                dxp[n, iy, ix, grp * cg + c] += grad * kernel[ky, kx, c, f]
                                dkernel[ky, kx, c, f] += grad * xp[n, iy, ix, grp * cg + c]
    dx = np.ascontiguousarray(crop_padding(dxp, g))  # (N, H, W, C_in)
    dbias = None if bias is None else dy.sum(axis=(0, 1, 2))  # (F,)
    return dx, dkernel, dbias


def _bias_gradient(dy, with_bias):
    """dbias = dy (N, H_out, W_out, F), C-contiguous, summed over its pixels. (F,) or None."""
    return bias_gradient(dy.reshape(-1, dy.shape[3])) if with_bias else None


def conv2d_backward(dy, x, kernel, bias=None, *, strides=1, padding="valid", dilation_rate=1, groups=1,
                    algorithm="auto"):
    """Gradients of ``conv2d``, fast: the forward's matrices, run backwards.

    Same arguments, checks and results as ``conv2d_backward_naive``; each algorithm's
    backward is the adjoint of its forward (no state is kept between calls). algorithm: as in
    ``conv2d``.
    """
    x, kernel, bias, dy, g, groups = _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, dy)
    algorithm = check_algorithm(algorithm, kernel.shape[:2], (g.sh, g.sw), (g.dh, g.dw), groups)
    return _conv2d_backward(dy, x, kernel, bias is not None, g, groups, algorithm=algorithm)


def _conv2d_backward(dy, x, kernel, with_bias, g, groups, input_gradient=True, kept=None, activation=None,
                     algorithm="auto"):
    """conv2d_backward on checked arguments: (dx, dkernel, dbias or None).

    input_gradient=False: dx is not computed (returned as None): a network's first layer needs
    only its weight gradients. kept: what ``_conv2d_forward(x, kernel, ..., keep=True)`` returned
    for the same x, or None. activation ('relu' or 'selu', with input_gradient): x is
    activation(z + b) of the layer before, and the result is (dz, dkernel, dbias or None, db)
    with that layer's dz = dx * activation'(x) and db its sums: in the row method's fold while
    each dx row is in cache, else in a pass of its own (``_through``).
    """
    x, dy = np.ascontiguousarray(x), np.ascontiguousarray(dy)  # (N, H, W, C_in), (N, H_out, W_out, F)
    kh, kw, cg, filters = kernel.shape
    activation = activation if input_gradient else None
    if not np.isfinite(kernel).all():
        with np.errstate(invalid="ignore"):
            dx, dkernel = _conv2d_backward_by_taps(dy, x, kernel, g, groups)
        return _through(dx if input_gradient else None, dkernel, _bias_gradient(dy, with_bias), x, activation)
    if algorithm == "auto" and kept is not None:  # the forward chose, knowing this backward would follow
        algorithm = kept[0]
    algorithm = _choose(kernel, groups, g, algorithm, x, dy, purpose="backward")
    if algorithm == "winograd":
        v = kept[1] if kept is not None and kept[0] == "winograd" else None  # checked by the callee
        dx, dkernel, dbias = conv2d_backward_winograd(dy, x, kernel, with_bias, g, groups, input_gradient, v,
                                                      tile=winograd_tile(kernel, groups, g))
        return _through(dx, dkernel, dbias, x, activation)
    if algorithm == "im2col":
        dbias = _bias_gradient(dy, with_bias)
        chunking = _image_chunks(g.n, g.out_h * g.out_w, kh * kw * cg * x.itemsize)
        cols_t = _kept(kept, "im2col", (kh * kw * cg, g.n * g.out_h * g.out_w))  # (kh*kw, M) or None
        dx, dkernel = conv2d_backward_im2col(dy, x, kernel, g, input_gradient, chunking, cols_t)
        if not np.isfinite(dkernel).all():  # maybe a 0 * Inf from the padding: redo exactly
            with np.errstate(invalid="ignore"):
                dkernel = _conv2d_backward_by_taps(dy, x, kernel, g, groups)[1]
        return _through(dx, dkernel, dbias, x, activation)
    all_rows = _kept(kept, "rows", (g.n * g.out_h * g.touched_w, groups, kh * cg))  # the forward's, or None
    dx, dkernel, dbias, *db = conv2d_backward_rows(dy, x, kernel, with_bias, g, groups, input_gradient, all_rows,
                                                   activation)
    if not np.isfinite(dkernel).all():  # maybe a 0 * Inf from the padding or dz's zeros: redo exactly
        with np.errstate(invalid="ignore"):
            dkernel = _conv2d_backward_by_taps(dy, x, kernel, g, groups)[1]
    return (dx, dkernel, dbias, *db)


def _kept(kept, path, shape):
    """The array of ``_conv2d_forward``'s kept when it comes from this path, else None; one of
    another shape belongs to another convolution (a caller's mistake: refused)."""
    if kept is None or kept[0] != path or kept[1] is None:
        return None
    if kept[1].shape != shape:
        raise ValueError(f"kept {path} of shape {kept[1].shape} do not belong to this convolution (expected {shape})")
    return kept[1]


def _through(dx, dkernel, dbias, x, activation):
    """_conv2d_backward's result from a path that computed dx alone: with an activation, its own
    pass turns dx into the layer before's dz and gives that layer's dbias."""
    if activation is None:
        return dx, dkernel, dbias
    dz, db = activations.backward_with_bias(dx, x, activation)
    return dz, dkernel, dbias, db
