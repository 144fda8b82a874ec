"""Activations, forward and backward, with Keras's names and formulas.

Each activation is a pair of functions:

    forward(x) -> y
    backward(dy, x, y) -> dx       (x is the input, y the forward's output)

looked up with ``get(identifier)``: a Keras name, a keras.activations function (by its name) or
None ('linear'). They work on any shape and keep the dtype. Gradients, also at the kinks, are
TensorFlow's: relu'(0) = 0, selu'(0) = scale; the others' in activations_keras.py.

Every Keras 3 activation name ``get`` takes (relu, selu, softmax and linear here, the rest in
activations_keras.py; sigma is the sigmoid, Phi the standard normal CDF):

    linear(x)       = x                          relu6(x)      = min(max(x, 0), 6)
    relu(x)         = max(x, 0)                  leaky_relu(x) = x if x > 0 else 0.2 * x
    elu(x)          = x if x > 0 else e^x - 1    selu(x)       = scale * elu_alpha(x)  (below)
    exponential(x)  = e^x                        softplus(x)   = log(1 + e^x)
    sigmoid(x)      = 1 / (1 + e^-x)             softsign(x)   = x / (1 + |x|)
    tanh(x)         = tanh(x)                    tanh_shrink(x) = x - tanh(x)
    silu(x) = swish(x) = x * sigma(x)            mish(x)       = x * tanh(softplus(x))
    gelu(x)         = x * Phi(x) = x/2 * erfc(-x/sqrt(2))    (Keras's default approximate=False)
    hard_sigmoid(x) = relu6(x + 3) / 6           hard_silu(x) = hard_swish(x) = x * hard_sigmoid(x)
    softmax(x)      = e^x / sum(e^x)             log_softmax(x) = x - log(sum(e^x))  (last axis)

The formulas of relu and selu in NumPy (``*_numpy`` below, also used for dtypes other than
float32/float64):

    relu(x)  = max(x, 0)                       relu'(x) = 1 if y > 0 else 0
    selu(x)  = scale * x             (x > 0)   selu'(x) = scale            (y >= 0)
             = scale * alpha * (e^x - 1)       (else)    = y + scale * alpha (y < 0)

The fast versions are one Numba pass each over the flat array (NumPy's take 4-6
passes and a temporary per step; timings in docs/performance.md).
The backward passes read y, not x: selu and relu keep their sign (y < 0 exactly
when x < 0, y > 0 exactly when x > 0), which is also what TensorFlow's SeluGrad and
ReluGrad test.
"""

import numba
import numpy as np

from . import activations_keras
from .numba_config import CONTRACT, contract_kernel, kernel, prange

# Keras's SELU constants (Klambauer et al., 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# --------------------------------------------------------------------------- the formulas in NumPy


def relu_forward_numpy(x):
    return np.maximum(x, 0, dtype=x.dtype)  # NaN stays NaN


def relu_backward_numpy(dy, x, y):
    return np.where(y > 0, dy, np.zeros((), dy.dtype))


def selu_forward_numpy(x):
    # (expm1 keeps full precision near 0, where TensorFlow's exp(x) - 1 loses a few digits)
    negative = (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, SELU_SCALE * x, negative).astype(x.dtype, copy=False)


def selu_backward_numpy(dy, x, y):
    slope = np.where(y < 0, y + SELU_SCALE * SELU_ALPHA, SELU_SCALE)
    return (dy * slope).astype(dy.dtype, copy=False)


# --------------------------------------------------------------------------- Numba kernels

# float32 e^w - 1 for w in [-87, 0] without a call to libm, so that the loop vectorises
# (Numba's own math.expm1 is a scalar call per element, which blocks vectorisation).
# Cephes's expf: w = n*ln2 + r with n = round(w / ln2) and |r| <= ln2/2 (ln2 split in a
# high part exact in float32 and a correction), e^r = 1 + q with q = r + r^2 * P(r), and
# e^w - 1 = 2^n * q + (2^n - 1), exact near 0 where n = 0. 2^n is built from its bits
# (exponent field n + 127), through an int32 view of a small float32 buffer.
# Measured against float64 expm1 on [-90, 0]: at most 1.6 ulp (1.5e-7 relative), with the
# multiply-adds fused (`contract_kernel`, one rounding per a * b + c).
_F32 = np.float32
_LOG2E, _LN2_HI, _LN2_LO = _F32(1.44269504088896341), _F32(0.693359375), _F32(-2.12194440e-4)
_P0, _P1, _P2 = _F32(1.9875691500e-4), _F32(1.3981999507e-3), _F32(8.3334519073e-3)
_P3, _P4, _P5 = _F32(4.1665795894e-2), _F32(1.6666665459e-1), _F32(5.0000001201e-1)
_ZERO, _ONE, _HALF, _LOWEST = _F32(0), _F32(1), _F32(0.5), _F32(-87.0)  # e^-87 is still a normal float32
_SCALE32, _SCALE_ALPHA32 = _F32(SELU_SCALE), _F32(SELU_SCALE * SELU_ALPHA)
_BLOCK = 512  # values per inner pass: the two buffers stay in L1
_SUM_ROWS = 256  # rows added up in the input's dtype before a float64 total takes them


@numba.njit(inline="always", **CONTRACT)
def _selu_float32_block(out, v, q, bits):
    """out[t] = selu(v[t]) for the float32 values of v (at most _BLOCK of them): the two passes below.

    Pass 1 writes q and the bits of 2^n for every value (both branch-free, so the loop
    vectorises); pass 2 combines them: out = scale * max(v, 0) + scale*alpha * expm1(min(v, 0)),
    which is selu(v) on both sides of 0 (the other term is exactly 0). NaN stays NaN; -Inf
    gives -scale*alpha (w clamps to -87). q, bits: scratch buffers of _BLOCK values.
    """
    two_n = bits.view(np.float32)
    for t in range(v.size):
        w = v[t] if v[t] < _ZERO else _ZERO  # min(v, 0); NaN -> 0 here, restored below
        w = w if w > _LOWEST else _LOWEST
        n = np.int32(w * _LOG2E - _HALF)  # round(w / ln2): w <= 0, and int() truncates toward 0
        nf = np.float32(n)
        r = w - nf * _LN2_HI - nf * _LN2_LO
        q[t] = (((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * r * r + r
        bits[t] = (n + 127) << 23
    for t in range(v.size):
        positive = v[t] if v[t] > _ZERO else _ZERO
        value = _SCALE32 * positive + _SCALE_ALPHA32 * (two_n[t] * q[t] + (two_n[t] - _ONE))
        out[t] = value if v[t] == v[t] else v[t]


@contract_kernel
def _selu_float32_kernel(y, x, n_chunks):
    """y = selu(x) on flat float32 arrays; prange over n_chunks runs of _BLOCK-value blocks."""
    size = x.size
    n_blocks = (size + _BLOCK - 1) // _BLOCK
    for chunk in prange(n_chunks):
        q = np.empty(_BLOCK, dtype=np.float32)  # e^r - 1
        bits = np.empty(_BLOCK, dtype=np.int32)  # 2^n as float32 bits
        for block in range(chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks):
            start = block * _BLOCK
            _selu_float32_block(y[start : start + _BLOCK], x[start : start + _BLOCK], q, bits)


@contract_kernel
def _bias_selu_float32_kernel(y, z, bias, n_chunks):
    """y = selu(z + bias) for flat float32 z, y (P*F values, y may be z) and bias (F,): prange over
    n_chunks runs of blocks of whole rows, each block's z + bias first written to an L1 buffer.

    The bias is tiled once per run into a block-sized buffer, so that adding it is a flat,
    vectorised loop (indexing z as (P, F) rows of only F values each was slower; this is as
    fast as selu alone: docs/performance.md)::

        z (flat)       z00 z01 z02 | z10 z11 z12 | ...     (F = 3; a block holds whole rows)
        tiled bias      b0  b1  b2 |  b0  b1  b2 | ...
        v = z + tiled, in L1, then y = selu(v) by _selu_float32_block
    """
    filters = bias.size
    width = max(1, _BLOCK // filters) * filters  # values per block: whole rows
    n_blocks = (z.size + width - 1) // width
    for chunk in prange(n_chunks):
        tiled = np.empty(width, dtype=np.float32)
        for t in range(width):
            tiled[t] = bias[t % filters]
        v = np.empty(width, dtype=np.float32)  # z + bias
        q = np.empty(width, dtype=np.float32)
        bits = np.empty(width, dtype=np.int32)
        for block in range(chunk * n_blocks // n_chunks, (chunk + 1) * n_blocks // n_chunks):
            start = block * width
            m = min(width, z.size - start)
            zb = z[start : start + m]
            for t in range(m):
                v[t] = zb[t] + tiled[t]
            _selu_float32_block(y[start : start + m], v[:m], q, bits)


@kernel
def _bias_selu_kernel(y, z, bias, scale, scale_alpha):
    """y = selu(z + bias) for z, y (P, F) float64 (y may be z), bias (F,), with NumPy's expm1."""
    pixels, filters = z.shape
    for p in prange(pixels):
        for f in range(filters):
            v = z[p, f] + bias[f]
            y[p, f] = scale * v if v > 0 else scale_alpha * np.expm1(v)


@kernel
def _bias_relu_kernel(y, z, bias, zero):
    """y = max(z + bias, 0) for z, y (P, F) (y may be z), bias (F,); NaN stays NaN."""
    pixels, filters = z.shape
    for p in prange(pixels):
        for f in range(filters):
            v = z[p, f] + bias[f]
            y[p, f] = zero if v < zero else v


@kernel
def _backward_bias_kernel(dz, sums, dy, y, selu, scale, scale_alpha, zero):
    """dz = dy * act'(y) for dz, dy, y (P, F), and sums[k] (n_chunks, F) float64 = the column sums
    of dz over the k-th run of rows (dbias = sums summed over k). selu: True for selu, False for
    relu (act' from y, as in _selu_backward_kernel and _relu_backward_kernel).

    Each run adds up _SUM_ROWS rows at a time in dz's dtype (registers: the loop vectorises),
    then adds that partial sum to its float64 total: float64 all the way was much slower, and
    this is as fast as the activation's backward alone (docs/performance.md).
    """
    pixels, filters = dy.shape
    n_chunks = sums.shape[0]
    for chunk in prange(n_chunks):
        total = sums[chunk]
        for f in range(filters):
            total[f] = 0.0
        partial = np.zeros_like(dy[0])  # (F,), dz's dtype
        first, last = chunk * pixels // n_chunks, (chunk + 1) * pixels // n_chunks
        for start in range(first, last, _SUM_ROWS):
            for p in range(start, min(start + _SUM_ROWS, last)):
                for f in range(filters):
                    if selu:
                        grad = dy[p, f] * (y[p, f] + scale_alpha if y[p, f] < zero else scale)
                    else:
                        grad = dy[p, f] if y[p, f] > zero else zero
                    dz[p, f] = grad
                    partial[f] += grad
            for f in range(filters):
                total[f] += partial[f]
                partial[f] = zero


@kernel
def _selu_kernel(y, x, scale, scale_alpha):
    """y = selu(x) on flat float64 arrays, with NumPy's scalar expm1 (full float64 precision)."""
    for t in prange(x.size):
        v = x[t]
        y[t] = scale * v if v > 0 else scale_alpha * np.expm1(v)


@kernel
def _selu_backward_kernel(dx, dy, y, scale, scale_alpha):
    """dx = dy * selu'(x), on flat arrays; the slope from y (y < 0 exactly when x < 0)."""
    for t in prange(y.size):
        dx[t] = dy[t] * (y[t] + scale_alpha if y[t] < 0 else scale)


@kernel
def _relu_kernel(y, x, zero):
    """y = max(x, 0) on flat arrays; NaN stays NaN (as np.maximum and TensorFlow's Relu)."""
    for t in prange(x.size):
        y[t] = zero if x[t] < zero else x[t]


@kernel
def _relu_backward_kernel(dx, dy, y, zero):
    """dx = dy where y > 0, else 0, on flat arrays."""
    for t in prange(y.size):
        dx[t] = dy[t] if y[t] > zero else zero


def _fast(*arrays):
    """True when the Numba kernels take these arrays (float32 or float64, all one dtype)."""
    return arrays[0].dtype in (np.float32, np.float64) and all(a.dtype == arrays[0].dtype for a in arrays)


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


def _chunks(size):
    """Runs of work for the kernels above over size values: one per Numba thread, at least 4 blocks each."""
    return max(1, min(numba.get_num_threads(), size // (4 * _BLOCK)))


# --------------------------------------------------------------------------- the public pairs


def linear_forward(x):
    return x


def linear_backward(dy, x, y):
    return dy


def relu_forward(x):
    if not _fast(x):
        return relu_forward_numpy(x)
    y = np.empty(x.shape, dtype=x.dtype)
    _relu_kernel(y.reshape(-1), _flat(x), x.dtype.type(0))
    return y


def relu_backward(dy, x, y):
    if not _fast(dy, y):
        return relu_backward_numpy(dy, x, y)
    dx = np.empty(dy.shape, dtype=dy.dtype)
    _relu_backward_kernel(dx.reshape(-1), _flat(dy), _flat(y), dy.dtype.type(0))
    return dx


def selu_forward(x):
    if not _fast(x):
        return selu_forward_numpy(x)
    y = np.empty(x.shape, dtype=x.dtype)
    if x.dtype == np.float32:
        _selu_float32_kernel(y.reshape(-1), _flat(x), _chunks(x.size))
    else:
        _selu_kernel(y.reshape(-1), _flat(x), x.dtype.type(SELU_SCALE), x.dtype.type(SELU_SCALE * SELU_ALPHA))
    return y


def selu_backward(dy, x, y):
    if not _fast(dy, y):
        return selu_backward_numpy(dy, x, y)
    dx = np.empty(dy.shape, dtype=dy.dtype)
    scale, scale_alpha = dy.dtype.type(SELU_SCALE), dy.dtype.type(SELU_SCALE * SELU_ALPHA)
    _selu_backward_kernel(dx.reshape(-1), _flat(dy), _flat(y), scale, scale_alpha)
    return dx


def softmax_forward(x):
    # softmax over the last axis, shifted by the max for stability
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dy, x, y):
    # dx_i = y_i * (dy_i - sum_j dy_j * y_j)
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


# --------------------------------------------------------------------------- bias and activation in one pass

# A layer ends with y = act(conv + bias). Done as written, that is two passes over the output,
# each reading and writing all of it; fused, it is one, with z + bias held in registers or L1:
#
#     separate:  z --(+ bias)--> t --(act)--> y          2 reads, 2 writes of (N, H, W, F)
#     fused:     z --(act(z + bias))--> y (over z)       1 read, 1 write
#
# The backward likewise: dz = dy * act'(y) and dbias = the column sums of dz in one pass
# (backward_with_bias). Some kernels that compute a dx go further and turn each dx row, still
# in cache, into the layer before's dz and its bias sums (standard_rows._fold_rows, the
# depthwise rows3 kernel, the max-pool backward); ``derivative_args`` gives them act.

WITH_BIAS = ("relu", "selu")  # the activations forward_with_bias and backward_with_bias take
_ACT_CODES = {None: 0, "relu": 1, "selu": 2}


def derivative_args(name, dtype):
    """(act, scale, scale_alpha, zero): what a kernel that applies relu's or selu's derivative
    from the output y takes (act: 0 none, 1 relu, 2 selu; the constants in dtype)."""
    one = np.dtype(dtype).type(1)
    return _ACT_CODES[name], one * SELU_SCALE, one * (SELU_SCALE * SELU_ALPHA), one * 0


def forward_with_bias(z, bias, name):
    """y = activation(z + bias) in one pass, for z (..., F) C-contiguous and bias (F,); y overwrites z.

    What a layer does after its kernel: adding the bias in a separate pass, then activating,
    reads and writes the output twice (see the comment above). z must be a fresh array nobody
    else holds (the layer's kernel output); name in WITH_BIAS.
    """
    z = np.ascontiguousarray(z)
    y = z.reshape(-1, z.shape[-1])  # (P, F), a view
    if not _fast(z, bias):
        y[...] = ACTIVATIONS[name][0](y + bias)
    elif name == "relu":
        _bias_relu_kernel(y, y, bias, z.dtype.type(0))
    elif z.dtype == np.float32:
        _bias_selu_float32_kernel(y.reshape(-1), y.reshape(-1), bias, _chunks(z.size))
    else:
        _bias_selu_kernel(y, y, bias, z.dtype.type(SELU_SCALE), z.dtype.type(SELU_SCALE * SELU_ALPHA))
    return z


def backward_with_bias(dy, y, name):
    """(dz, dbias): dz = dy * activation'(y) and dbias = dz summed over every axis but the last, in
    one pass (the column sums in float64, one run of rows per thread); name in WITH_BIAS."""
    if not _fast(dy, y):
        dz = ACTIVATIONS[name][1](dy, None, y)
        return dz, dz.reshape(-1, dz.shape[-1]).sum(axis=0)
    filters = dy.shape[-1]
    dz = np.empty(dy.shape, dtype=dy.dtype)
    sums = np.empty((_chunks(dy.size), filters), np.float64)
    act, scale, scale_alpha, zero = derivative_args(name, dy.dtype)
    _backward_bias_kernel(dz.reshape(-1, filters), sums, _flat(dy).reshape(-1, filters),
                          _flat(y).reshape(-1, filters), act == 2, scale, scale_alpha, zero)
    return dz, sums.sum(axis=0).astype(dy.dtype)


ACTIVATIONS = {
    "linear": (linear_forward, linear_backward),
    "relu": (relu_forward, relu_backward),
    "selu": (selu_forward, selu_backward),
    "softmax": (softmax_forward, softmax_backward),
    **activations_keras.ACTIVATIONS,
}


def name_of(identifier, where=None):
    """The activation's Keras name: identifier itself, 'linear' for None, or a keras.activations
    function's own name (keras.activations.swish is silu itself, so it gives 'silu').
    where: the layer's name, for the error messages."""
    prefix = "" if where is None else f"layer {where!r}: "
    if identifier is None:
        return "linear"
    module = getattr(identifier, "__module__", None) or ""
    if callable(identifier) and module.split(".")[0] == "keras" and "activations" in module:
        identifier = getattr(identifier, "__name__", identifier)  # without importing Keras
    if not isinstance(identifier, str):
        raise TypeError(f"{prefix}activation must be a name such as 'relu', a keras.activations function "
                        f"or None, got {identifier!r}")
    if identifier not in ACTIVATIONS:
        raise ValueError(f"{prefix}activation must be one of {sorted(ACTIVATIONS)}, got {identifier!r}")
    return identifier


def get(identifier, where=None):
    """(forward, backward) for a Keras activation name, a keras.activations function or None
    ('linear'); where: the layer's name, for the error messages."""
    return ACTIVATIONS[name_of(identifier, where)]
