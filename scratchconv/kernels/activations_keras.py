"""The rest of Keras 3's activations, forward and backward; ``activations.get`` looks them up.

The conventions are those of activations.py: forward(x) -> y and backward(dy, x, y) -> dx, any
shape, the dtype kept. The gradients are TensorFlow's (tf.GradientTape on keras.activations.<name>),
also at the kinks, where each follows the TensorFlow op Keras calls:

    relu6          Relu6Grad: 1 on 0 < x < 6 only (0 at x = 0 and at x = 6)
    leaky_relu     LeakyReluGrad: 1 for x > 0, else negative_slope (so negative_slope at x = 0);
                   negative_slope rounded to float32 first, as TensorFlow's op attribute is
    elu            1 for x > 0, else alpha * e^x (so alpha at x = 0)
    hard_sigmoid   relu6(x + 3) / 6: 1/6 on 0 < x + 3 < 6 only (0 at x = -3 and at x = 3)
    clipped relu   keras.layers.ReLU's formula, step by step, with each step's gradient (below)

relu6, the clipped ReLU of keras.layers.ReLU and the exact GELU are Numba passes (one each way,
like relu's); the others are a few NumPy expressions. Everything works with NUMBA_DISABLE_JIT=1.
"""

import math

import numpy as np

from .numba_config import kernel, prange

_SQRT_HALF = 0.7071067811865476  # 1/sqrt(2), as TensorFlow's gelu
_INV_SQRT_2PI = 0.3989422804014327  # 1/sqrt(2*pi)


def _fast(*arrays):
    """True when the Numba kernels take these arrays (float32 or float64, all one dtype)."""
    return arrays[0].dtype in (np.float32, np.float64) and all(a.dtype == arrays[0].dtype for a in arrays)


def _flat(a):
    return np.ascontiguousarray(a).reshape(-1)


# --------------------------------------------------------------------------- Numba kernels


@kernel
def _relu6_kernel(y, x, zero, six):
    """y = min(max(x, 0), 6) on flat arrays; NaN stays NaN (as TensorFlow's Relu6)."""
    for t in prange(x.size):
        v = x[t]
        y[t] = zero if v < zero else (six if v > six else v)


@kernel
def _relu6_backward_kernel(dx, dy, y, zero, six):
    """dx = dy where 0 < y < 6 (exactly where 0 < x < 6), else 0, on flat arrays."""
    for t in prange(y.size):
        dx[t] = dy[t] if y[t] > zero and y[t] < six else zero


@kernel
def _clipped_relu_kernel(y, x, max_value, slope, threshold, six, clip, zero):
    """y = keras.activations.relu(x, slope, max_value, threshold) on flat arrays, in Keras's steps:

        kept = x if x > threshold else 0      (threshold != 0; else relu(x), or relu6(x) if six)
        kept = min(kept, max_value)           (if clip; kept >= 0 already)
        y    = kept - slope * max(threshold - x, 0)

    NaN: relu and relu6 keep it, 'x > threshold' turns it into 0, and slope * NaN is NaN.
    """
    for t in prange(x.size):
        v = x[t]
        if threshold != zero:
            kept = v if v > threshold else zero
        elif six:
            kept = zero if v < zero else (max_value if v > max_value else v)
        else:
            kept = zero if v < zero else v
        if clip:
            kept = max_value if kept > max_value else kept  # NaN stays NaN
        if slope != zero:
            below = threshold - v
            kept -= slope * (zero if below < zero else below)  # relu: NaN stays NaN
        y[t] = kept


@kernel
def _clipped_relu_backward_kernel(dx, dy, x, max_value, slope, threshold, six, clip, zero):
    """dx for _clipped_relu_kernel, on flat arrays: each step's TensorFlow gradient.

    'x > threshold' and relu pass dy where their test holds (so not at x = threshold); relu6 on
    0 < x < 6; the clip (tf.clip_by_value) unless kept > max_value, so dy passes at kept ==
    max_value; the slope term gives slope * dy where threshold - x > 0. The two never overlap.
    """
    for t in prange(x.size):
        v = x[t]
        if threshold != zero:
            passes = v > threshold
        elif six:
            passes = v > zero and v < max_value
        else:
            passes = v > zero
        if clip and passes and v > max_value:  # kept = v here
            passes = False
        if passes:
            dx[t] = dy[t]
        elif slope != zero and threshold - v > zero:
            dx[t] = slope * dy[t]
        else:
            dx[t] = zero


@kernel
def _gelu_kernel(y, x):
    """y = x/2 * erfc(-x/sqrt(2)) on flat arrays, in float64 (TensorFlow's exact GELU: erfc keeps
    the precision for x << 0, where 1 + erf(x/sqrt(2)) would cancel)."""
    for t in prange(x.size):
        v = float(x[t])
        y[t] = 0.5 * v * math.erfc(-v * _SQRT_HALF)


@kernel
def _gelu_backward_kernel(dx, dy, x):
    """dx = dy * (erfc(-x/sqrt(2))/2 + x * e^(-x^2/2) / sqrt(2 pi)) on flat arrays, in float64."""
    for t in prange(x.size):
        v = float(x[t])
        dx[t] = dy[t] * (0.5 * math.erfc(-v * _SQRT_HALF) + v * math.exp(-0.5 * v * v) * _INV_SQRT_2PI)


# --------------------------------------------------------------------------- the pairs


def relu6_forward(x):
    if not _fast(x):
        return np.minimum(np.maximum(x, 0), 6).astype(x.dtype, copy=False)
    y = np.empty(x.shape, dtype=x.dtype)
    _relu6_kernel(y.reshape(-1), _flat(x), x.dtype.type(0), x.dtype.type(6))
    return y


def relu6_backward(dy, x, y):
    if not _fast(dy, y):
        return np.where((y > 0) & (y < 6), dy, np.zeros((), dy.dtype))
    dx = np.empty(dy.shape, dtype=dy.dtype)
    _relu6_backward_kernel(dx.reshape(-1), _flat(dy), _flat(y), dy.dtype.type(0), dy.dtype.type(6))
    return dx


def clipped_relu(max_value=None, negative_slope=0.0, threshold=0.0):
    """(forward, backward) of keras.activations.relu(x, negative_slope, max_value, threshold) outside
    its shortcuts (plain relu; leaky_relu when only negative_slope is set): keras.layers.ReLU's
    general case. max_value None: no upper clip; max_value 6 with threshold 0 takes relu6's step,
    as Keras does (whose gradient is 0 at x = 6, where a clip's is 1)."""
    six = threshold == 0 and max_value is not None and max_value == 6
    clip = max_value is not None and not six

    def arguments(x):
        one = x.dtype.type(1)
        return (one * (0 if max_value is None else max_value), one * negative_slope, one * threshold, six, clip,
                one * 0)

    def forward(x):
        x = np.asarray(x)
        y = np.empty(x.shape, dtype=x.dtype)
        _clipped_relu_kernel(y.reshape(-1), _flat(x), *arguments(x))
        return y

    def backward(dy, x, y):
        dx = np.empty(dy.shape, dtype=dy.dtype)
        _clipped_relu_backward_kernel(dx.reshape(-1), _flat(dy), _flat(x.astype(dy.dtype, copy=False)),
                                      *arguments(dy))
        return dx

    return forward, backward


def leaky_relu(negative_slope=0.2):
    """(forward, backward) of keras.activations.leaky_relu: x for x > 0, else negative_slope * x.

    TensorFlow's LeakyRelu holds negative_slope as a float32 attribute, also for float64 x: so
    does this (0.2 is 0.20000000298023224 in both dtypes).
    """
    slope = np.float32(negative_slope)

    def forward(x):
        return np.where(x > 0, x, x * x.dtype.type(slope))

    def backward(dy, x, y):
        return np.where(x > 0, dy, dy * dy.dtype.type(slope))

    return forward, backward


def elu(alpha=1.0):
    """(forward, backward) of keras.activations.elu: x for x > 0, else alpha * (e^x - 1).

    expm1, not TensorFlow's exp(x) - 1, which cancels near 0 (like selu in activations.py).
    """

    def forward(x):
        negative = x.dtype.type(alpha) * np.expm1(np.minimum(x, 0))
        return np.where(x > 0, x, negative).astype(x.dtype, copy=False)

    def backward(dy, x, y):
        slope = x.dtype.type(alpha) * np.exp(np.minimum(x, 0))
        return np.where(x > 0, dy, dy * slope).astype(dy.dtype, copy=False)

    return forward, backward


def _via_float64(kernel_function, *arrays):
    """Runs a flat Numba kernel (out, *arrays) in the arrays' dtype, float64 for other dtypes."""
    dtype = arrays[0].dtype if _fast(*arrays) else np.dtype(np.float64)
    flat = [_flat(np.asarray(a, dtype=dtype)) for a in arrays]
    out = np.empty(arrays[0].shape, dtype=dtype)
    kernel_function(out.reshape(-1), *flat)
    return out.astype(arrays[0].dtype, copy=False)


def gelu_forward(x):
    return _via_float64(_gelu_kernel, x)


def gelu_backward(dy, x, y):
    return _via_float64(_gelu_backward_kernel, dy, np.asarray(x, dtype=dy.dtype))


def sigmoid_forward(x):
    e = np.exp(-np.abs(x))  # <= 1: no overflow on either side
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(dy, x, y):
    return dy * y * (1 - y)  # TensorFlow's SigmoidGrad


def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(dy, x, y):
    return dy * (1 - y * y)  # TensorFlow's TanhGrad


def exponential_forward(x):
    return np.exp(x)


def exponential_backward(dy, x, y):
    return dy * y


def softplus_forward(x):
    return np.logaddexp(x.dtype.type(0), x)  # log(1 + e^x) without overflow


def softplus_backward(dy, x, y):
    return dy * sigmoid_forward(x)


def softsign_forward(x):
    return x / (1 + np.abs(x))


def softsign_backward(dy, x, y):
    return dy / np.square(1 + np.abs(x))


def silu_forward(x):
    return x * sigmoid_forward(x)


def silu_backward(dy, x, y):
    s = sigmoid_forward(x)
    return dy * (s * (1 + x * (1 - s)))  # TensorFlow's swish gradient (nan at x = +-inf, as there)


def hard_sigmoid_forward(x):
    return relu6_forward(x + x.dtype.type(3)) / x.dtype.type(6)


def hard_sigmoid_backward(dy, x, y):
    shifted = x + x.dtype.type(3)
    return np.where((shifted > 0) & (shifted < 6), dy / dy.dtype.type(6), np.zeros((), dy.dtype))


def hard_silu_forward(x):
    return x * hard_sigmoid_forward(x)


def hard_silu_backward(dy, x, y):
    return dy * hard_sigmoid_forward(x) + hard_sigmoid_backward(dy * x, x, None)


def mish_forward(x):
    return x * np.tanh(softplus_forward(x))


def mish_backward(dy, x, y):
    t = np.tanh(softplus_forward(x))
    return dy * t + dy * x * (1 - t * t) * sigmoid_forward(x)


def tanh_shrink_forward(x):
    return x - np.tanh(x)


def tanh_shrink_backward(dy, x, y):
    t = np.tanh(x)
    return dy - dy * (1 - t * t)  # as TensorFlow differentiates x - tanh(x): exactly 0 at x = 0


def log_softmax_forward(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def log_softmax_backward(dy, x, y):
    return dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)


ACTIVATIONS = {
    "elu": elu(1.0),
    "exponential": (exponential_forward, exponential_backward),
    "gelu": (gelu_forward, gelu_backward),  # keras.activations.gelu's default: approximate=False
    "hard_sigmoid": (hard_sigmoid_forward, hard_sigmoid_backward),
    "hard_silu": (hard_silu_forward, hard_silu_backward),
    "hard_swish": (hard_silu_forward, hard_silu_backward),
    "leaky_relu": leaky_relu(0.2),  # keras.activations.leaky_relu's default negative_slope
    "log_softmax": (log_softmax_forward, log_softmax_backward),
    "mish": (mish_forward, mish_backward),
    "relu6": (relu6_forward, relu6_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "silu": (silu_forward, silu_backward),
    "softplus": (softplus_forward, softplus_backward),
    "softsign": (softsign_forward, softsign_backward),
    "swish": (silu_forward, silu_backward),
    "tanh": (tanh_forward, tanh_backward),
    "tanh_shrink": (tanh_shrink_forward, tanh_shrink_backward),
}
