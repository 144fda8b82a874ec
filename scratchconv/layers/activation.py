"""ReLU, LeakyReLU, ELU and Softmax: Keras's activation layers with arguments.

    layer                                              forward y                     backward
    ReLU(max_value=None, negative_slope=0, threshold=0)  relu clipped at max_value,  each step's gradient
                                                       negative_slope*(x - threshold) below threshold
    LeakyReLU(negative_slope=0.3)                      x if x > 0 else negative_slope * x
    ELU(alpha=1.0)                                     x if x > 0 else alpha * (e^x - 1)
    Softmax(axis=-1)                                   e^x / sum(e^x) over axis      y * (dy - sum(dy * y))

No weights. ReLU follows keras.activations.relu's shortcuts, so that the values and the gradients
at the kinks are TensorFlow's: no arguments is relu; only negative_slope is leaky_relu; max_value=6
alone is relu6 (MobileNet's ReLU(6.), one Numba pass each way); anything else is the general
clipped ReLU (``activations_keras.clipped_relu``). The kink conventions are listed in
scratchconv/kernels/activations_keras.py.
"""

import warnings

import numpy as np

from ..kernels import activations, activations_keras
from ..kernels.arguments import check_array, check_grad
from .base import Layer


class _Elementwise(Layer):
    """y = forward(x) and dx = backward(dy, x, y) for the pair set by the subclass, any shape."""

    _pair = None  # (forward, backward)

    def forward(self, x, training=False):
        x = check_array(x, "x", np.ndim(x)).astype(self.dtype, copy=False)
        y = self._pair[0](x)
        self._cache = (x, y)
        return y

    def backward(self, dy):
        if getattr(self, "_cache", None) is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        x, y = self._cache
        dy = check_grad(dy, "dy", y.shape, None).astype(self.dtype, copy=False)
        return self._pair[1](dy, x, y)


class ReLU(_Elementwise):
    """keras.layers.ReLU(max_value=None, negative_slope=0.0, threshold=0.0), Keras's formula:

        y = min(x, max_value)                  for x > threshold (x >= 0 when threshold = 0)
        y = negative_slope * (x - threshold)   for x < threshold
    """

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        # Keras's checks, in Keras's order (a value that cannot be compared raises TypeError there too)
        if max_value is not None and max_value < 0.0:
            raise ValueError(f"max_value of a ReLU layer cannot be a negative value. Received: max_value={max_value}")
        if negative_slope is None or negative_slope < 0.0:
            raise ValueError("negative_slope of a ReLU layer cannot be None or a negative value. "
                             f"Received: negative_slope={negative_slope}")
        if threshold is None or threshold < 0.0:
            raise ValueError("threshold of a ReLU layer cannot be None or a negative value. "
                             f"Received: threshold={threshold}")
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold
        if threshold == 0 and max_value is None:  # keras.activations.relu's shortcuts
            self._pair = activations.get("relu") if negative_slope == 0 else activations_keras.leaky_relu(negative_slope)
        elif threshold == 0 and negative_slope == 0 and max_value == 6:
            self._pair = activations.get("relu6")
        else:
            self._pair = activations_keras.clipped_relu(max_value, negative_slope, threshold)
        self._cache = None

    def batchnorm_max_value(self):
        """(True, max_value) when ``BatchNormalization.forward_with_relu(x, max_value)`` computes
        this layer exactly, with the same gradient from its output: plain relu (max_value None)
        and relu6 (6.0), the two whose backward reads only y. (False, None) otherwise."""
        if self._pair[0] is activations.relu_forward:
            return True, None
        return (True, 6.0) if self._pair[0] is activations_keras.relu6_forward else (False, None)

    def took_output(self, y):
        """Records y as this layer's last output when the layer before computed it (a model's
        fused BatchNormalization + ReLU, see ``batchnorm_max_value``): backward reads only y."""
        self._cache = (None, y)


class LeakyReLU(_Elementwise):
    """keras.layers.LeakyReLU(negative_slope=0.3): y = x if x > 0 else negative_slope * x.

    The legacy keyword ``alpha`` is accepted with a warning, as Keras 3 does.
    """

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` is deprecated. Use `negative_slope` instead.")
        super().__init__(**kwargs)
        if negative_slope is None or negative_slope < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or negative value. "
                             f"Expected a float. Received: negative_slope={negative_slope}")
        self.negative_slope = negative_slope
        self._pair = activations_keras.leaky_relu(negative_slope)
        self._cache = None


class ELU(_Elementwise):
    """keras.layers.ELU(alpha=1.0): y = x if x > 0 else alpha * (e^x - 1); dy/dx = alpha at x = 0."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self._pair = activations_keras.elu(alpha)
        self._cache = None


class Softmax(_Elementwise):
    """keras.layers.Softmax(axis=-1): y = e^x / sum(e^x) over axis (an int, or a list of axes taken
    together), shifted by the max for stability; dx = y * (dy - sum(dy * y)) over the same axes.
    (Keras's mask argument is not supported.)"""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        axes = tuple(axis) if isinstance(axis, (list, tuple)) else axis

        def forward(x):
            e = np.exp(x - x.max(axis=axes, keepdims=True))  # same shape as x
            return e / e.sum(axis=axes, keepdims=True)

        def backward(dy, x, y):
            return y * (dy - (dy * y).sum(axis=axes, keepdims=True))

        self._pair = (forward, backward)
        self._cache = None
