"""MaxPool2D, Flatten, Dense and Activation: the rest of the article's network, as Keras has them.

    layer        weights (get_weights() order)    forward                         backward
    MaxPool2D    -                                y = max over each window         dy goes to the window's winner
    Flatten      -                                (N, H, W, C) -> (N, H*W*C)       reshape back
    Dense        kernel (D_in, U), bias (U,)      y = act(x @ kernel + bias)       dz = act'(dy); dx = dz @ kernel.T
    Activation   -                                y = act(x)                       dx = act'(dy)

Max pooling's kernels, and the TensorFlow corner cases they follow, are in
``scratchconv.kernels.pooling``.

Dense and Activation expose the fused softmax + cross-entropy path used by
``scratchconv.nn``: after ``forward`` they keep the pre-activation ``z`` and
``backward_preactivation(dz)`` skips the activation's own backward.
"""

import numpy as np

from ..kernels import activations
from ..kernels.arguments import check_array, check_grad, check_padding, keras_pair
from ..kernels.pooling import max_pool2d, max_pool2d_backward, max_pool2d_backward_with_activation, pool_geometry
from . import initializers
from .base import Layer
from .conv import check_data_format, positive_int

# --------------------------------------------------------------------------- layers


class MaxPool2D(Layer):
    """keras.layers.MaxPool2D(pool_size=(2, 2), strides=None (= pool_size), padding='valid', data_format).

    x: (N, H, W, C) (or (N, C, H, W) with 'channels_first')  ->  y: (N, H_out, W_out, C)
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = keras_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else keras_pair(strides, "strides")
        self.padding = check_padding(padding)
        self.data_format = check_data_format(data_format)
        self._cache = None

    def _rows_cols_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(f"layer {self.name!r} expects a rank-4 input shape, got {input_shape}")
        out = list(input_shape)
        for axis, pool, stride in zip(self._rows_cols_axes(), self.pool_size, self.strides):
            if input_shape[axis] is not None:
                out[axis] = pool_geometry(input_shape[axis], pool, stride, self.padding)[0]
                if out[axis] < 1:
                    raise ValueError(f"layer {self.name!r}: pool_size {self.pool_size} does not fit "
                                     f"input shape {input_shape} with padding='{self.padding}'")
        return tuple(out)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def forward(self, x, training=False):
        x = check_array(x, "x", 4).astype(self.dtype, copy=False)
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)  # NCHW -> NHWC view
        y, winners = max_pool2d(x, self.pool_size, self.strides, self.padding)  # (N, H_out, W_out, C)
        self._cache = (x.shape, winners, y.shape)
        return y if self.data_format == "channels_last" else np.ascontiguousarray(y.transpose(0, 3, 1, 2))

    def backward(self, dy):
        if self._cache is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        x_shape, winners, y_shape = self._cache  # NHWC shapes
        if self.data_format == "channels_first":
            dy = check_grad(dy, "dy", (y_shape[0], y_shape[3], *y_shape[1:3]), None).transpose(0, 2, 3, 1)
        else:
            dy = check_grad(dy, "dy", y_shape, None)
        dy = dy.astype(self.dtype, copy=False)  # (N, H_out, W_out, C)
        dx = max_pool2d_backward(dy, winners, x_shape)  # (N, H, W, C)
        return dx if self.data_format == "channels_last" else np.ascontiguousarray(dx.transpose(0, 3, 1, 2))

    def backward_with_activation(self, dy, y, activation):
        """(dz, dbias) for the layer before this pool, when that layer's forward ended with
        y = activation(z + bias) (relu or selu, channels last): this pool's backward and that
        activation's in one pass (``max_pool2d_backward_with_activation``); None where it does
        not apply (then call backward). ``Sequential`` uses it for Conv2D -> MaxPool2D pairs.
        """
        if self._cache is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        x_shape, winners, y_shape = self._cache
        if self.data_format != "channels_last" or y.shape != x_shape or y.dtype != self.dtype:
            return None
        dy = check_grad(dy, "dy", y_shape, None).astype(self.dtype, copy=False)
        return max_pool2d_backward_with_activation(dy, winners, y, activation)


MaxPooling2D = MaxPool2D  # Keras's other name


class Flatten(Layer):
    """keras.layers.Flatten: (N, d1, d2, ...) -> (N, d1*d2*...), row-major (channels last, as Keras)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self._input_shape = None

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if any(d is None for d in rest) else int(np.prod(rest, dtype=np.int64))
        return (input_shape[0], size)

    def forward(self, x, training=False):
        x = np.asarray(x)
        if x.ndim < 2:
            raise ValueError(f"layer {self.name!r} expects an input with a batch axis, got shape {x.shape}")
        if self.data_format == "channels_first" and x.ndim > 2:
            x = np.moveaxis(x, 1, -1)  # Keras flattens in channels-last order
        self._input_shape = x.shape
        return x.reshape(x.shape[0], -1)  # (N, D): a view when x is contiguous

    def backward(self, dy):
        if self._input_shape is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        dx = np.asarray(dy).reshape(self._input_shape)  # (N, d1, d2, ...)
        return np.moveaxis(dx, -1, 1) if self.data_format == "channels_first" and dx.ndim > 2 else dx


class _Activated(Layer):
    """The activation part Dense and Activation share, with the fused-softmax hook."""

    def _set_activation(self, activation):
        self.activation = activations.name_of(activation, where=self.name)  # the Keras name
        self._activation_forward, self._activation_backward = activations.get(activation, where=self.name)

    def backward(self, dy):
        if self._cache is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        z, y = self._cache[-2:]
        dy = check_grad(dy, "dy", y.shape, None).astype(self.dtype, copy=False)
        return self.backward_preactivation(self._activation_backward(dy, z, y))

    @property
    def preactivation(self):
        """z of the last forward, before the activation (the logits when it is softmax)."""
        return self._cache[-2]


class Dense(_Activated):
    """keras.layers.Dense(units, activation=None, use_bias=True): y = act(x @ kernel + bias).

    x: (N, ..., D_in) -> y: (N, ..., U); kernel (D_in, U), bias (U,), glorot_uniform / zeros.
    Gradients (X, dZ flattened to 2-D): dkernel = X.T @ dZ, dbias = sum of dZ, dx = dZ @ kernel.T.
    """

    WEIGHT_ARGS = ("kernel", "bias")  # Keras argument prefixes, weight order

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", *, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.units = positive_int(units, "units")
        self._set_activation(activation)
        if not isinstance(use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
        self.use_bias = bool(use_bias)
        initializers.get(kernel_initializer), initializers.get(bias_initializer)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.rng = np.random.default_rng(seed)
        self._cache = None

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape)[:-1], self.units)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"layer {self.name!r} needs an input shape (batch, ..., features) with known "
                             f"features, got {input_shape}")
        d_in = int(input_shape[-1])
        self.weights = [initializers.get(self.kernel_initializer)((d_in, self.units), self.dtype, self.rng)]
        if self.use_bias:
            self.weights.append(initializers.get(self.bias_initializer)((self.units,), self.dtype, self.rng))
        self.gradients = [np.zeros_like(w) for w in self.weights]
        super().build(input_shape)

    def forward(self, x, training=False):
        x = check_array(x, "x", np.ndim(x)).astype(self.dtype, copy=False)
        if x.ndim < 2:
            raise ValueError(f"layer {self.name!r} expects (batch, ..., features), got shape {x.shape}")
        if not self.built:
            self.build((None, *x.shape[1:]))
        kernel = self.weights[0]
        if x.shape[-1] != kernel.shape[0]:
            raise ValueError(f"layer {self.name!r} expects {kernel.shape[0]} input features (last axis), "
                             f"got x of shape {x.shape}")
        z = x @ kernel  # (N, ..., U)
        if self.use_bias:
            z += self.weights[1]
        y = self._activation_forward(z)  # (N, ..., U)
        self._cache = (x, z, y)
        return y

    def backward_preactivation(self, dz):
        """dx from dz = dL/dz (the gradient before the activation); fills self.gradients."""
        x = self._cache[0]
        x2 = x.reshape(-1, x.shape[-1])  # (N*..., D_in)
        dz2 = dz.reshape(-1, self.units)  # (N*..., U)
        np.matmul(x2.T, dz2, out=self.gradients[0])  # (D_in, U)
        if self.use_bias:
            np.sum(dz2, axis=0, out=self.gradients[1])  # (U,)
        return (dz2 @ self.weights[0].T).reshape(x.shape)  # (N, ..., D_in)


class Activation(_Activated):
    """keras.layers.Activation(activation): y = act(x), any shape."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)
        self._cache = None

    def forward(self, x, training=False):
        x = check_array(x, "x", np.ndim(x)).astype(self.dtype, copy=False)
        y = self._activation_forward(x)
        self._cache = (x, y)
        return y

    def backward_preactivation(self, dz):
        return dz
