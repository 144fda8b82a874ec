"""AveragePooling2D, GlobalAveragePooling2D and GlobalMaxPooling2D, as Keras has them (MaxPool2D is in core.py).

    layer                    forward                                   backward
    AveragePooling2D         y = mean of each window's real cells      a cell gets dy / count of each window holding it
    GlobalAveragePooling2D   y[n, c] = mean of x[n, :, :, c]           dx = dy / (H*W) everywhere
    GlobalMaxPooling2D       y[n, c] = max of x[n, :, :, c]            dy split equally among the cells equal to the max

TensorFlow's corner cases, which these follow:

- AvgPool with padding='same' divides by the number of real (not padded) cells in the window
  (see ``scratchconv.kernels.average_pooling``).
- The gradient of ``reduce_max`` (Keras's GlobalMaxPooling2D) splits dy equally among ties:
  dx = (x == y) / (number of cells equal to y) * dy, in that order. A NaN anywhere in a channel
  makes y NaN and, as no cell equals NaN, every dx of that channel 0/0 = NaN; a channel of -inf
  splits dy over all its cells.

The global poolings are one NumPy reduction and one broadcast each: a Numba pass would read x
once as they do, so they stay in NumPy. GlobalAveragePooling2D sums in float64 before rounding
to the layer's dtype (within TensorFlow's float32 rounding of the same mean).
"""

import numpy as np

from ..kernels.arguments import check_array, check_grad, check_padding, keras_pair
from ..kernels.average_pooling import average_pool2d, average_pool2d_backward
from ..kernels.pooling import pool_geometry
from .base import Layer
from .conv import check_data_format


def spatial_axes(data_format):
    """The (rows, cols) axes of a rank-4 input: (1, 2) channels_last, (2, 3) channels_first."""
    return (1, 2) if data_format == "channels_last" else (2, 3)


def check_rank(layer, input_shape, rank=4):
    """input_shape as a tuple of rank ``rank``, else ValueError naming the layer (Keras's InputSpec)."""
    input_shape = tuple(input_shape)
    if len(input_shape) != rank:
        raise ValueError(f"layer {layer.name!r} expects a rank-{rank} input shape "
                         f"(batch, rows, cols, channels) or (batch, channels, rows, cols), got {input_shape}")
    return input_shape


def check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class _Pool2D(Layer):
    """What the three poolings share: the data format, the rank check, the NHWC view."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self._cache = None

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def _nhwc(self, a):
        """a (in the layer's layout) as NHWC: a view."""
        return a if self.data_format == "channels_last" else a.transpose(0, 2, 3, 1)

    def _user_layout(self, a):
        """NHWC a in the layer's layout, contiguous."""
        return a if self.data_format == "channels_last" else np.ascontiguousarray(a.transpose(0, 3, 1, 2))

    def _check_forward_input(self, x):
        self.compute_output_shape(np.shape(x))  # the layer's own shape errors first, before any kernel
        return check_array(x, "x", 4).astype(self.dtype, copy=False)

    def _cached(self):
        if self._cache is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        return self._cache

    def _check_dy(self, dy, y_shape):
        return check_grad(dy, "dy", y_shape, None).astype(self.dtype, copy=False)


class AveragePooling2D(_Pool2D):
    """keras.layers.AveragePooling2D(pool_size=(2, 2), strides=None (= pool_size), padding='valid', data_format).

    x: (N, H, W, C) (or (N, C, H, W) with 'channels_first')  ->  y: (N, H_out, W_out, C)
    """

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.pool_size = keras_pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else keras_pair(strides, "strides")
        self.padding = check_padding(padding)

    def compute_output_shape(self, input_shape):
        input_shape = check_rank(self, input_shape)
        out = list(input_shape)
        for axis, pool, stride in zip(spatial_axes(self.data_format), self.pool_size, self.strides):
            if input_shape[axis] is not None:
                out[axis] = pool_geometry(input_shape[axis], pool, stride, self.padding)[0]
                if input_shape[axis] < 1 or out[axis] < 1:
                    raise ValueError(f"layer {self.name!r}: pool_size {self.pool_size} with padding="
                                     f"'{self.padding}' needs at least {pool if self.padding == 'valid' else 1} "
                                     f"rows and columns, got input shape {input_shape}")
        return tuple(out)

    def forward(self, x, training=False):
        x = self._nhwc(self._check_forward_input(x))  # (N, H, W, C) view
        y = self._user_layout(average_pool2d(x, self.pool_size, self.strides, self.padding))  # (N, H_out, W_out, C)
        self._cache = (x.shape, y.shape)  # x's NHWC shape, y's shape as returned
        return y

    def backward(self, dy):
        x_shape, y_shape = self._cached()
        dy = self._nhwc(self._check_dy(dy, y_shape))  # (N, H_out, W_out, C)
        dx = average_pool2d_backward(np.ascontiguousarray(dy), x_shape, self.pool_size, self.strides, self.padding)
        return self._user_layout(dx)  # (N, H, W, C) or (N, C, H, W)


AvgPool2D = AveragePooling2D  # Keras's other name


class _GlobalPool2D(_Pool2D):
    """keepdims=False: (N, H, W, C) -> (N, C); keepdims=True: -> (N, 1, 1, C) (channels_first: (N, C, 1, 1))."""

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(data_format, **kwargs)
        self.keepdims = check_bool(keepdims, "keepdims")

    def compute_output_shape(self, input_shape):
        input_shape = check_rank(self, input_shape)
        rows, cols = spatial_axes(self.data_format)
        for axis in (rows, cols):
            if input_shape[axis] is not None and input_shape[axis] < 1:
                raise ValueError(f"layer {self.name!r} needs at least one row and column to pool, "
                                 f"got input shape {input_shape}")
        channels = input_shape[3] if self.data_format == "channels_last" else input_shape[1]
        if not self.keepdims:
            return (input_shape[0], channels)
        if self.data_format == "channels_last":
            return (input_shape[0], 1, 1, channels)
        return (input_shape[0], channels, 1, 1)

    def forward(self, x, training=False):
        x = self._check_forward_input(x)  # (N, H, W, C) or (N, C, H, W)
        y = self._reduce(x, spatial_axes(self.data_format))  # keepdims: (N, 1, 1, C) or (N, C, 1, 1)
        self._cache = (x, y)
        return y if self.keepdims else y.reshape(self.compute_output_shape(x.shape))

    def backward(self, dy):
        x, y = self._cached()
        dy = self._check_dy(dy, self.compute_output_shape(x.shape))
        return self._spread(dy.reshape(y.shape), x, y)  # x's shape


class GlobalAveragePooling2D(_GlobalPool2D):
    """keras.layers.GlobalAveragePooling2D(data_format, keepdims=False): the mean over rows and columns."""

    def _reduce(self, x, axes):
        return x.mean(axis=axes, keepdims=True, dtype=np.float64).astype(self.dtype)

    def _spread(self, dy, x, y):
        rows, cols = spatial_axes(self.data_format)
        share = dy / self.dtype.type(x.shape[rows] * x.shape[cols])  # (N, 1, 1, C): TF's grad / count
        return np.ascontiguousarray(np.broadcast_to(share, x.shape))


class GlobalMaxPooling2D(_GlobalPool2D):
    """keras.layers.GlobalMaxPooling2D(data_format, keepdims=False): the max over rows and columns (NaN wins)."""

    def _reduce(self, x, axes):
        return x.max(axis=axes, keepdims=True)  # NaN propagates, as in tf.reduce_max

    def _spread(self, dy, x, y):
        winners = (x == y).astype(self.dtype)  # (N, H, W, C): 1 at each cell equal to the max
        count = winners.sum(axis=spatial_axes(self.data_format), keepdims=True)  # (N, 1, 1, C)
        with np.errstate(invalid="ignore", divide="ignore"):  # a NaN channel: 0 / 0, as TensorFlow
            return winners / count * dy  # TF's order: (indicators / count) * dy


GlobalAvgPool2D = GlobalAveragePooling2D  # Keras's other names
GlobalMaxPool2D = GlobalMaxPooling2D
