"""Activations, forward and backward, with Keras's names and formulas.

Each activation is a pair of functions:

    forward(x) -> y
    backward(dy, x, y) -> dx       (x is the input, y the forward's output)

looked up by Keras's string name with ``get(name)``. They work on any shape and
keep the dtype. Gradients at the kinks follow TensorFlow: relu'(0) = 0,
selu'(0) = scale.
"""

import numpy as np

# Keras's SELU constants (Klambauer et al., 2017).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def linear_forward(x):
    return x


def linear_backward(dy, x, y):
    return dy


def relu_forward(x):
    return np.maximum(x, 0, dtype=x.dtype)  # NaN stays NaN


def relu_backward(dy, x, y):
    return np.where(x > 0, dy, np.zeros((), dy.dtype))


def selu_forward(x):
    # selu(x) = scale * x                    for x > 0
    #         = scale * alpha * (e^x - 1)    otherwise
    # (expm1 keeps full precision near 0, where TensorFlow's exp(x) - 1 loses a few digits)
    negative = (SELU_SCALE * SELU_ALPHA) * np.expm1(np.minimum(x, 0))
    return np.where(x > 0, SELU_SCALE * x, negative).astype(x.dtype, copy=False)


def selu_backward(dy, x, y):
    # d selu / dx = scale for x >= 0, else scale * alpha * e^x = y + scale * alpha
    # (TensorFlow's SeluGrad tests y < 0, so at x = 0 the slope is scale)
    slope = np.where(x < 0, y + SELU_SCALE * SELU_ALPHA, SELU_SCALE)
    return (dy * slope).astype(dy.dtype, copy=False)


def softmax_forward(x):
    # softmax over the last axis, shifted by the max for stability
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def softmax_backward(dy, x, y):
    # dx_i = y_i * (dy_i - sum_j dy_j * y_j)
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


ACTIVATIONS = {
    "linear": (linear_forward, linear_backward),
    "relu": (relu_forward, relu_backward),
    "selu": (selu_forward, selu_backward),
    "softmax": (softmax_forward, softmax_backward),
}


def get(name):
    """(forward, backward) for a Keras activation name; None means 'linear'."""
    if name is None:
        name = "linear"
    if not isinstance(name, str):
        raise TypeError(f"activation must be a string such as 'relu' or None, got {name!r}")
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)} or None, got {name!r}")
    return ACTIVATIONS[name]
