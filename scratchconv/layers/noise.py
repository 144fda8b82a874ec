"""Dropout, SpatialDropout2D and GaussianNoise: Keras's regularisation layers, active only in training.

    layer              forward(x, training=True)                        backward
    Dropout            y = x * mask, mask = 0 with probability rate,    dx = dy * mask (the same mask)
                       else 1 / (1 - rate) ("inverted" dropout)
    SpatialDropout2D   Dropout with one draw per (sample, channel):     dx = dy * mask
                       whole feature maps are dropped
    GaussianNoise      y = x + noise, noise ~ N(0, stddev) per value    dx = dy

With training=False (inference), or rate = 0 / stddev = 0, each is the identity, and its
backward passes dy through.

The random numbers are scratchconv's own, from a NumPy Generator seeded with ``seed`` (an int:
the same masks on every run; None: fresh ones), so they are not Keras's draws; what follows
TensorFlow exactly is everything else (``tf.nn.dropout``):

- a value is kept when its uniform draw in [0, 1) is >= rate, so rate = 1 drops everything;
- the scale 1 / (1 - rate) is computed in the layer's dtype, and y = where(keep, x * scale, 0):
  a dropped value is 0 even when x is Inf or NaN, and so is its gradient;
- ``noise_shape`` gives the mask's shape, its 1s broadcast (None entries take the input's size):
  Dropout(0.5, noise_shape=(None, 1, 1, C)) is SpatialDropout2D.
"""

from numbers import Real

import numpy as np

from ..kernels.arguments import check_array, check_grad, is_int
from .base import Layer
from .conv import check_data_format
from .pooling import check_rank


def _check_seed(seed):
    if seed is not None and not (is_int(seed) and seed >= 0):
        raise ValueError(f"seed must be None or an int >= 0, got {seed!r}")
    return seed


def _check_fraction(value, name):
    """A real number in [0, 1] (Keras's range for rate and stddev)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a float between 0 and 1, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a float between 0 and 1, got {value!r}")
    return float(value)


class _Random(Layer):
    """A layer that draws from its own seeded Generator in training, and remembers x's and y's shape."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _check_seed(seed)
        self.rng = np.random.default_rng(seed)
        self._shape = None  # x's (and y's) shape in the last forward

    def build(self, input_shape):
        self.compute_output_shape(input_shape)
        super().build(input_shape)

    def _check_x(self, x):
        self.compute_output_shape(np.shape(x))  # shape errors first, naming the layer
        x = check_array(x, "x", np.ndim(x)).astype(self.dtype, copy=False)
        self._shape = x.shape
        return x

    def _check_dy(self, dy):
        if self._shape is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        return check_grad(dy, "dy", self._shape, None).astype(self.dtype, copy=False)


class Dropout(_Random):
    """keras.layers.Dropout(rate, noise_shape=None, seed=None): any input shape, inverted dropout in training."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = _check_fraction(rate, "rate")
        self.noise_shape = self._check_noise_shape(noise_shape)
        self._keep = None  # the last training forward's keep mask (noise shape, bool); None: identity

    @staticmethod
    def _check_noise_shape(noise_shape):
        if noise_shape is None:
            return None
        if isinstance(noise_shape, str) or not isinstance(noise_shape, (tuple, list)):
            raise ValueError(f"noise_shape must be a tuple of ints or None, got {noise_shape!r}")
        for i, d in enumerate(noise_shape):
            if d is not None and not (is_int(d) and d > 0):
                raise ValueError(f"noise_shape must hold ints > 0 or None, got {d!r} at index {i} of {noise_shape!r}")
        return tuple(None if d is None else int(d) for d in noise_shape)

    def _mask_shape(self, input_shape):
        """The shape of the keep mask for this input: noise_shape with None filled in, else the input's."""
        return input_shape if self.noise_shape is None else tuple(
            size if d is None else d for d, size in zip(self.noise_shape, input_shape))

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.noise_shape is not None:
            fits = len(self.noise_shape) == len(input_shape) and all(
                d is None or d == 1 or size is None or d == size for d, size in zip(self.noise_shape, input_shape))
            if not fits:
                raise ValueError(f"layer {self.name!r}: noise_shape {self.noise_shape} must have one entry per axis "
                                 f"of the input, each None, 1 or that axis's size; got input shape {input_shape}")
        return input_shape

    def forward(self, x, training=False):
        x = self._check_x(x)
        self._keep = None
        if not training or self.rate == 0:
            return x
        self._keep = self.rng.random(self._mask_shape(x.shape)) >= self.rate  # keep with probability 1 - rate
        return np.where(self._keep, x * self._scale(), self.dtype.type(0))

    def _scale(self):
        one = self.dtype.type(1)
        return one / (one - self.dtype.type(self.rate)) if self.rate < 1 else one  # rate 1 keeps nothing to scale

    def backward(self, dy):
        dy = self._check_dy(dy)
        if self._keep is None:
            return dy
        return np.where(self._keep, dy * self._scale(), self.dtype.type(0))


class SpatialDropout2D(Dropout):
    """keras.layers.SpatialDropout2D(rate, data_format, seed): drops whole channels of each sample.

    The mask is (N, 1, 1, C) ((N, C, 1, 1) channels_first): one draw per sample and channel.
    """

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)
        self.data_format = check_data_format(data_format)

    def _mask_shape(self, input_shape):
        n, *rest = input_shape
        return (n, 1, 1, rest[2]) if self.data_format == "channels_last" else (n, rest[0], 1, 1)

    def compute_output_shape(self, input_shape):
        return check_rank(self, input_shape)


class GaussianNoise(_Random):
    """keras.layers.GaussianNoise(stddev, seed=None): y = x + N(0, stddev) noise in training, any input shape."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = _check_fraction(stddev, "stddev")

    def forward(self, x, training=False):
        x = self._check_x(x)
        if not training or self.stddev == 0:
            return x
        noise = self.rng.standard_normal(x.shape, dtype=self.dtype) * self.dtype.type(self.stddev)  # x's shape
        return x + noise

    def backward(self, dy):
        return self._check_dy(dy)
