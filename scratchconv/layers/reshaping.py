"""ZeroPadding2D, Cropping2D, UpSampling2D, Reshape and Rescaling, as Keras has them.

    layer           forward                                        backward
    ZeroPadding2D   zeros around the rows and columns              dx = the middle of dy (crop the padding off)
    Cropping2D      the middle of x                                dx = dy with the cropped rows/cols as zeros
    UpSampling2D    each pixel repeated size_h x size_w times      dx = the sum of dy over each pixel's copies
    Reshape         x.reshape(N, *target_shape)                    dy.reshape(x.shape)
    Rescaling       y = x * scale + offset                         dx = dy * scale

All are linear in x (Rescaling affine), so each backward is the forward's transpose; the tests
check <forward(x), dy> = <x, backward(dy)> besides comparing with Keras. None has weights, and
all are plain NumPy: each moves every value once, which a Numba kernel would not do faster.
"""

from numbers import Real

import numpy as np

from ..kernels.arguments import check_array, check_grad, is_int, keras_pair
from .base import Layer
from .conv import check_data_format
from .pooling import check_rank, spatial_axes


def _pad_pairs(value, name):
    """Keras's int | (sym_rows, sym_cols) | ((top, bottom), (left, right)), all >= 0: ((top, bottom), (left, right))."""
    def pair(v, which):
        if is_int(v):
            v = (v, v)
        if not (isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(e) for e in v)) or min(v) < 0:
            raise ValueError(f"the {which} entry of {name} must be an int >= 0 or a pair of them, got {value!r}")
        return (int(v[0]), int(v[1]))

    if is_int(value):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value!r}")
        return ((int(value),) * 2,) * 2
    if not (isinstance(value, (tuple, list)) and len(value) == 2):
        raise ValueError(f"{name} must be an int, a tuple of 2 ints (symmetric rows, symmetric cols) or a tuple "
                         f"of 2 tuples of 2 ints ((top, bottom), (left, right)), got {value!r}")
    return (pair(value[0], "1st"), pair(value[1], "2nd"))


class _Spatial(Layer):
    """A rank-4 layer with a data format; forward keeps the input shape and dtype for backward."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(data_format)
        self._shapes = None  # (x.shape, y.shape) of the last forward

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def _check_x(self, x):
        y_shape = self.compute_output_shape(np.shape(x))  # shape errors first, naming the layer
        x = check_array(x, "x", 4).astype(self.dtype, copy=False)
        self._shapes = (x.shape, y_shape)
        return x

    def _check_dy(self, dy):
        if self._shapes is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        return check_grad(dy, "dy", self._shapes[1], None).astype(self.dtype, copy=False)

    def _window(self, pads):
        """The index of the middle of a padded array: pads = ((top, bottom), (left, right))."""
        index = [slice(None)] * 4
        for axis, (before, after) in zip(spatial_axes(self.data_format), pads):
            index[axis] = slice(before, -after if after else None)
        return tuple(index)

    def _grow(self, input_shape, delta_rows, delta_cols):
        """input_shape with rows and cols changed by delta(size) (None stays None)."""
        input_shape = check_rank(self, input_shape)
        out = list(input_shape)
        for axis, delta in zip(spatial_axes(self.data_format), (delta_rows, delta_cols)):
            if out[axis] is not None:
                out[axis] = delta(out[axis])
        return tuple(out)


class ZeroPadding2D(_Spatial):
    """keras.layers.ZeroPadding2D(padding=(1, 1), data_format).

    (N, H, W, C) -> (N, H + top + bottom, W + left + right, C)
    """

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = _pad_pairs(padding, "padding")

    def compute_output_shape(self, input_shape):
        (top, bottom), (left, right) = self.padding
        return self._grow(input_shape, lambda h: h + top + bottom, lambda w: w + left + right)

    def forward(self, x, training=False):
        x = self._check_x(x)
        pads = [(0, 0)] * 4
        for axis, pad in zip(spatial_axes(self.data_format), self.padding):
            pads[axis] = pad
        return np.pad(x, pads)  # zeros around

    def backward(self, dy):
        return np.ascontiguousarray(self._check_dy(dy)[self._window(self.padding)])

    def folded(self, x):
        """Records x as this layer's last input when a model ran the padding inside the next
        layer (``DepthwiseConv2D.forward_same``, see ``nn.fusion``): backward then works alone."""
        self._shapes = (np.shape(x), self.compute_output_shape(np.shape(x)))


class Cropping2D(_Spatial):
    """keras.layers.Cropping2D(cropping=((0, 0), (0, 0)), data_format).

    (N, H, W, C) -> (N, H - top - bottom, W - left - right, C); at least one row and column must remain.
    """

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = _pad_pairs(cropping, "cropping")

    def compute_output_shape(self, input_shape):
        input_shape = check_rank(self, input_shape)
        for axis, crop, what in zip(spatial_axes(self.data_format), self.cropping, ("rows", "columns")):
            if input_shape[axis] is not None and sum(crop) >= input_shape[axis]:
                raise ValueError(f"layer {self.name!r}: cropping {self.cropping} must leave at least one of the "
                                 f"{input_shape[axis]} {what} (crops {sum(crop)}); got input shape {input_shape}")
        (top, bottom), (left, right) = self.cropping
        return self._grow(input_shape, lambda h: h - top - bottom, lambda w: w - left - right)

    def forward(self, x, training=False):
        return np.ascontiguousarray(self._check_x(x)[self._window(self.cropping)])

    def backward(self, dy):
        dy = self._check_dy(dy)
        dx = np.zeros(self._shapes[0], dtype=self.dtype)  # (N, H, W, C): the cropped cells get 0
        dx[self._window(self.cropping)] = dy
        return dx


class UpSampling2D(_Spatial):
    """keras.layers.UpSampling2D(size=(2, 2), data_format, interpolation='nearest'): each pixel repeated.

    (N, H, W, C) -> (N, H * size_h, W * size_w, C). Only 'nearest' is implemented.
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        self.size = keras_pair(size, "size")
        if not isinstance(interpolation, str):
            raise TypeError(f"interpolation must be a string ('nearest'), got {interpolation!r}")
        if interpolation.lower() != "nearest":
            raise ValueError(f"UpSampling2D: interpolation={interpolation!r} is not implemented in scratchconv "
                             f"(Keras has it); only interpolation='nearest' is")
        self.interpolation = "nearest"

    def compute_output_shape(self, input_shape):
        return self._grow(input_shape, lambda h: h * self.size[0], lambda w: w * self.size[1])

    def forward(self, x, training=False):
        x = self._check_x(x)
        rows, cols = spatial_axes(self.data_format)
        return np.repeat(np.repeat(x, self.size[0], axis=rows), self.size[1], axis=cols)

    def backward(self, dy):
        dy = self._check_dy(dy)
        (sh, sw), x_shape = self.size, self._shapes[0]
        if self.data_format == "channels_last":
            n, h, w, c = x_shape
            return dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4))  # (N, H, W, C): each pixel's sh*sw copies
        n, c, h, w = x_shape
        return dy.reshape(n, c, h, sh, w, sw).sum(axis=(3, 5))  # (N, C, H, W)


class Reshape(Layer):
    """keras.layers.Reshape(target_shape): (N, ...) -> (N, *target_shape), one -1 allowed (inferred), row-major."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(target_shape, (tuple, list)) or not all(is_int(d) for d in target_shape):
            raise TypeError(f"target_shape must be a tuple of ints (one may be -1), got {target_shape!r}")
        target_shape = tuple(int(d) for d in target_shape)
        if min(target_shape, default=0) < -1 or target_shape.count(-1) > 1:
            raise ValueError(f"target_shape must hold ints >= 0 and at most one -1 (inferred), got {target_shape}")
        self.target_shape = target_shape
        self._shapes = None

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 1:
            raise ValueError(f"layer {self.name!r} expects an input shape with a batch axis, got {input_shape}")
        rest, target = input_shape[1:], self.target_shape
        if None in rest:
            return (input_shape[0], *(None if d == -1 else d for d in target))
        size = int(np.prod(rest, dtype=np.int64))  # values per sample
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        if -1 in target and known > 0 and size % known == 0:
            target = tuple(size // known if d == -1 else d for d in target)
        elif -1 in target or size != known:
            gives = f"no whole size for its -1 ({size} / {known})" if -1 in target else f"{known}"
            raise ValueError(f"layer {self.name!r}: target_shape {self.target_shape} must hold the {size} values of "
                             f"each sample of input shape {input_shape}; it holds {gives}")
        return (input_shape[0], *target)

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def forward(self, x, training=False):
        y_shape = self.compute_output_shape(np.shape(x))
        x = check_array(x, "x", np.ndim(x)).astype(self.dtype, copy=False)
        self._shapes = (x.shape, y_shape)
        return x.reshape(y_shape)  # a view when x is contiguous

    def backward(self, dy):
        if self._shapes is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        return check_grad(dy, "dy", self._shapes[1], None).astype(self.dtype, copy=False).reshape(self._shapes[0])


class Rescaling(Layer):
    """keras.layers.Rescaling(scale, offset=0.0): y = x * scale + offset, in the layer's dtype.

    scale and offset are numbers or arrays that broadcast against one sample (e.g. one value per
    channel, shape (C,)). Integer inputs (uint8 images) are cast to the layer's dtype, as Keras does.
    Keras rounds a Python float scale or offset to float32 even in a float64 layer (a Python
    float becomes a float32 tensor before the cast), and so does this layer; np.float64(scale)
    or an array keeps every bit.
    """

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = self._number_or_array(scale, "scale")
        self.offset = self._number_or_array(offset, "offset")
        self._shapes = None

    def _number_or_array(self, value, name):
        is_array = isinstance(value, (list, tuple, np.ndarray)) and np.asarray(value).dtype.kind in "iuf"
        if isinstance(value, (bool, np.bool_)) or not (isinstance(value, Real) or is_array):
            raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}")
        if isinstance(value, float) and not isinstance(value, np.floating):
            value = np.float32(value)  # as Keras: tf.cast makes a Python float a float32 tensor first
        elif isinstance(value, (list, tuple)) and np.asarray(value).dtype.kind == "f":
            value = np.asarray(value, dtype=np.float32)  # a list of Python floats too (tf.convert_to_tensor)
        return np.asarray(value, dtype=self.dtype)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) < 1:
            raise ValueError(f"layer {self.name!r} expects an input shape with a batch axis, got {input_shape}")
        sample = input_shape[1:]
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            fits = value.ndim <= len(sample) and all(
                v == 1 or d is None or v == d for v, d in zip(value.shape[::-1], sample[::-1]))
            if not fits:
                raise ValueError(f"layer {self.name!r}: {name} of shape {value.shape} must broadcast against "
                                 f"one sample of shape {sample} without changing it; got input shape {input_shape}")
        return input_shape

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def forward(self, x, training=False):
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"layer {self.name!r}: x must be an array of numbers, got dtype {x.dtype}")
        self.compute_output_shape(x.shape)
        x = x.astype(self.dtype, copy=False)
        self._shapes = (x.shape,) * 2
        return x * self.scale + self.offset

    def backward(self, dy):
        if self._shapes is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        dy = check_grad(dy, "dy", self._shapes[1], None).astype(self.dtype, copy=False)
        return dy * self.scale
