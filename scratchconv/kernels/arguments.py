"""Argument checks and convolution geometry shared by every kernel.

The public functions call these before any Numba code runs: a kernel that
indexes out of bounds can crash the whole process, so nothing reaches a kernel
unless its shapes, dtypes and geometry have been checked here.

Geometry follows TensorFlow/Keras exactly:

- 'valid': no padding; out = ceil((in - (k - 1) * d) / s).
- 'same':  out = ceil(in / s); the total padding
  max((out - 1) * s + (k - 1) * d + 1 - in, 0) is split with the odd pixel at
  the bottom/right (pad_before = total // 2).
"""

from dataclasses import dataclass
from numbers import Integral

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
PADDINGS = ("valid", "same")


def as_pair(value, name):
    """An int or a pair of ints >= 1, as a tuple (rows, cols)."""
    if isinstance(value, (Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        pair = (int(value), int(value))
    elif (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (Integral, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in value)
    ):
        pair = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if pair[0] < 1 or pair[1] < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return pair


def check_padding(padding):
    """'valid' or 'same' (any case), returned lower-case."""
    if not isinstance(padding, str):
        raise TypeError(f"padding must be 'valid' or 'same', got {padding!r}")
    if padding.lower() not in PADDINGS:
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    return padding.lower()


def check_array(a, name, ndim, dtype=None):
    """A float32/float64 ndarray of rank ``ndim`` (and dtype ``dtype`` if given).

    Array-likes are converted with np.asarray; nothing is copied or modified.
    """
    if isinstance(a, (str, bytes)) or a is None:
        raise TypeError(f"{name} must be a float32 or float64 array, got {type(a).__name__}")
    a = np.asarray(a)
    if a.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a float32 or float64 array, got dtype {a.dtype}; "
            f"convert it first, e.g. {name}.astype(np.float32)"
        )
    if dtype is not None and a.dtype != dtype:
        raise TypeError(
            f"{name} has dtype {a.dtype} but the input x has dtype {dtype}; "
            f"inputs and weights must share one dtype"
        )
    if a.ndim != ndim:
        raise ValueError(f"{name} must have rank {ndim}, got shape {a.shape}")
    return a


def check_bias(bias, n_out, dtype, name="bias"):
    """None, or a vector of ``n_out`` values of ``dtype``."""
    if bias is None:
        return None
    bias = check_array(bias, name, 1, dtype)
    if bias.shape[0] != n_out:
        raise ValueError(f"{name} must have shape ({n_out},), got {bias.shape}")
    return bias


def check_grad(dy, name, expected_shape, dtype):
    """The upstream gradient: same dtype as x and exactly the forward's output shape."""
    dy = check_array(dy, name, len(expected_shape), dtype)
    if dy.shape != tuple(expected_shape):
        raise ValueError(f"{name} must have the forward output's shape {tuple(expected_shape)}, got {dy.shape}")
    return dy


def same_padding(size, k, s, d):
    """(out, pad_before, pad_after) for 'same' along one axis."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return out, total // 2, total - total // 2


def valid_padding(size, k, s, d):
    """(out, 0, 0) for 'valid' along one axis; out may be <= 0."""
    span = (k - 1) * d + 1
    out = -(-(size - span + 1) // s)
    return out, 0, 0


@dataclass(frozen=True)
class Geometry:
    """Everything a kernel needs to know about one convolution's sliding window."""

    n: int
    h: int
    w: int
    kh: int
    kw: int
    sh: int
    sw: int
    dh: int
    dw: int
    pad_top: int
    pad_bottom: int
    pad_left: int
    pad_right: int
    out_h: int
    out_w: int

    @property
    def padded_h(self):
        return self.h + self.pad_top + self.pad_bottom

    @property
    def padded_w(self):
        return self.w + self.pad_left + self.pad_right

    @property
    def touched_w(self):
        """The columns of x, counted from the first, that some window touches (W for stride 1)."""
        return max(1, min(self.w, (self.out_w - 1) * self.sw + (self.kw - 1) * self.dw + 1 - self.pad_left))


def conv_geometry(x_shape, kernel_hw, strides, padding, dilation_rate):
    """The window geometry of a 2-D convolution of an NHWC input.

    Raises ValueError when the output would be empty.
    """
    n, h, w = x_shape[0], x_shape[1], x_shape[2]
    kh, kw = kernel_hw
    (sh, sw), (dh, dw) = strides, dilation_rate
    pad = same_padding if padding == "same" else valid_padding
    out_h, top, bottom = pad(h, kh, sh, dh)
    out_w, left, right = pad(w, kw, sw, dw)
    if h < 1 or w < 1 or out_h < 1 or out_w < 1:
        raise ValueError(
            f"the output would be empty: input {h}x{w} with kernel {kh}x{kw}, "
            f"dilation_rate {(dh, dw)}, strides {(sh, sw)} and padding='{padding}' "
            f"gives {max(out_h, 0)}x{max(out_w, 0)}"
        )
    return Geometry(n, h, w, kh, kw, sh, sw, dh, dw, top, bottom, left, right, out_h, out_w)


def pad_input(x, g):
    """x zero-padded by the geometry's padding, C-contiguous. (N, H_pad, W_pad, C)"""
    if g.pad_top == g.pad_bottom == g.pad_left == g.pad_right == 0:
        return np.ascontiguousarray(x)
    return np.pad(x, ((0, 0), (g.pad_top, g.pad_bottom), (g.pad_left, g.pad_right), (0, 0)))


def crop_padding(x_padded, g):
    """The inverse of pad_input: the interior (N, H, W, C) of a padded array."""
    return x_padded[:, g.pad_top : g.pad_top + g.h, g.pad_left : g.pad_left + g.w, :]


def conv_output_size(size, k, s, d, padding):
    """Keras's compute_conv_output_shape along one axis (None stays None; may be <= 0 for 'valid').

    'valid': floor((in - d·(k-1) - 1) / s) + 1;   'same': ceil(in / s).
    """
    if size is None:
        return None
    if padding == "valid":
        return (size - d * (k - 1) - 1) // s + 1
    return (size - 1) // s + 1


def is_int(value):
    """An int or NumPy integer, not a bool."""
    return isinstance(value, (Integral, np.integer)) and not isinstance(value, (bool, np.bool_))


def keras_pair(value, name):
    """Keras's ``standardize_tuple(value, 2, name)``: an int or 2 ints, all > 0, else ValueError."""
    if is_int(value):
        pair = (int(value), int(value))
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(f"{name} must be an int or a tuple of 2 ints, got {value!r}")
    if min(pair) < 1:
        raise ValueError(f"{name} must be > 0 in both dimensions, got {value!r}")
    return pair


FORWARD = object()  # check_conv2d_args's dy when called from a forward function


def check_conv2d_args(x, kernel, bias, strides, padding, dilation_rate, groups, dy=FORWARD):
    """conv2d's arguments (standard.py and its algorithms): check every argument (before any Numba code runs) and work out the geometry.

    Returns ``(x, kernel, bias, dy, g, groups)``: the arrays as ndarrays (not
    copied), ``g`` the window Geometry (see ``conv_geometry``).
    """
    x = check_array(x, "x", 4)  # (N, H, W, C_in)
    kernel = check_array(kernel, "kernel", 4, x.dtype)  # (kh, kw, C_in // groups, F)
    if not isinstance(groups, (Integral, np.integer)) or isinstance(groups, (bool, np.bool_)):
        raise TypeError(f"groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups < 1:
        raise ValueError(f"groups must be >= 1, got {groups}")
    c_in = x.shape[3]
    kh, kw, c_group, filters = kernel.shape
    if c_in < 1:
        raise ValueError(f"x must have at least one channel, got shape {x.shape}")
    if kh < 1 or kw < 1 or filters < 1:
        raise ValueError(f"kernel must have a non-empty window and at least one filter, got shape {kernel.shape}")
    if c_in % groups != 0:
        raise ValueError(f"the input channels of x ({c_in}) must be divisible by groups ({groups})")
    if filters % groups != 0:
        raise ValueError(f"the number of filters kernel.shape[3] ({filters}) must be divisible by groups ({groups})")
    if c_group != c_in // groups:
        raise ValueError(
            f"kernel must have shape (kh, kw, C_in // groups, F) = ({kh}, {kw}, {c_in // groups}, {filters}) "
            f"for x with {c_in} channels and groups={groups}, got shape {kernel.shape}"
        )
    bias = check_bias(bias, filters, x.dtype)
    strides = as_pair(strides, "strides")
    padding = check_padding(padding)
    dilation_rate = as_pair(dilation_rate, "dilation_rate")
    g = conv_geometry(x.shape, (kh, kw), strides, padding, dilation_rate)
    if dy is not FORWARD:  # a backward call: dy must be the forward output's gradient
        dy = check_grad(dy, "dy", (g.n, g.out_h, g.out_w, filters), x.dtype)  # (N, H_out, W_out, F)
    return x, kernel, bias, dy, g, groups
