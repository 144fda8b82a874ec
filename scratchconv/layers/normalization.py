"""BatchNormalization, as Keras 3 has it (TensorFlow backend).

    weights (get_weights() order)              forward                               backward
    gamma (C,)  if scale    trainable          training: batch mean / variance       dx, dgamma, dbeta
    beta (C,)   if center   trainable          inference: moving mean / variance     (kernels/batchnorm.py)
    moving_mean (C,), moving_variance (C,)     non-trainable state

What Keras 3 does, and this layer copies (keras/src/layers/normalization/batch_normalization.py
and the TensorFlow backend's ``moments`` / ``batch_normalization``):

- Training mode (``forward(x, training=True)`` on a trainable layer): the batch's mean and its
  *biased* variance (divided by N, ``tf.nn.moments``), in the input's dtype (float32 stays
  float32; the sums here are float64). The moving statistics are then updated, in that dtype, as
  ``moving = moving * momentum + batch * (1 - momentum)`` (``1 - momentum`` in Python floats,
  then cast), the moving variance from the same biased variance (Keras 2's fused kernel used
  N - 1; Keras 3 does not).
- Inference mode (``training=False``, or ``trainable=False`` whatever ``training`` says, as in
  Keras 3): the moving statistics, which are not updated.
- y = gamma * (x - mean) / sqrt(variance + epsilon) + beta; gamma is 1 without ``scale``,
  beta 0 without ``center``.

Fusing a following ReLU/ReLU6 (Sequential does it, ``scratchconv.nn.fusion``; ``forward``/``backward``
do not): ``forward_with_relu(x, max_value, training)`` returns min(max(bn(x), 0), max_value) in
the same pass, and ``backward_with_relu(dy, y, max_value)`` returns dx from the gradient of that
output, the relu's mask read from its output y (0 < y < max_value), as TensorFlow's
ReluGrad/Relu6Grad; given the forward's own y, from the byte mask the forward wrote beside it.
``backward(dy)`` after ``forward_with_relu`` is the batch normalisation's own backward.
"""

import numbers

import numpy as np

from ..kernels import batchnorm
from ..kernels.arguments import check_array, check_grad
from . import initializers
from .base import Layer


def _real(value, name):
    """A Python float from a real number (not a bool); TypeError naming the argument otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


class BatchNormalization(Layer):
    """keras.layers.BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True, ...).

    x: any rank >= 1 with the channels along ``axis`` (-1 for NHWC and Dense outputs, 1 for
    channels_first) -> y: x's shape. gamma_/beta_regularizer and gamma_/beta_constraint go to
    Layer's per-weight keyword arguments; Keras's renorm arguments are not supported and
    ``synchronized=True`` (cross-device statistics) is refused.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", synchronized=False, **kwargs):
        self.center, self.scale = _flag(center, "center"), _flag(scale, "scale")
        # Keras's weight names, get_weights() order (gamma and beta only when used); set before
        # Layer.__init__, which reads it for the per-weight keyword arguments (gamma_regularizer, ...)
        self.WEIGHT_ARGS = (("gamma",) if self.scale else ()) + (("beta",) if self.center else ()) + (
            "moving_mean", "moving_variance")
        super().__init__(**kwargs)
        if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis must be an int (the channels axis, e.g. -1 or 1), got {axis!r}")
        self.axis = int(axis)
        self.momentum = _real(momentum, "momentum")
        self.epsilon = _real(epsilon, "epsilon")  # Keras checks neither range
        if synchronized:
            raise ValueError("synchronized=True (statistics across devices) is not supported: "
                             "scratchconv runs on one device; use synchronized=False")
        self.synchronized = False
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        for init in (beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer):
            initializers.get(init)  # unknown names fail here, as in Keras
        self.rng = np.random.default_rng()
        self._cache = None

    # --- shapes and weights ---------------------------------------------------------------
    def _channel_axis(self, rank):
        if not -rank <= self.axis < rank:
            raise ValueError(f"layer {self.name!r}: axis={self.axis} is out of bounds for an input of "
                             f"rank {rank} (shape with the batch axis)")
        return self.axis % rank

    def compute_output_shape(self, input_shape):
        self._channel_axis(len(input_shape))
        return tuple(input_shape)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = input_shape[self._channel_axis(len(input_shape))]
        if channels is None:
            raise ValueError(f"layer {self.name!r}: the axis {self.axis} of input shape {input_shape} "
                             f"must be known")
        shape = (int(channels),)

        def make(init):
            return initializers.get(init)(shape, self.dtype, self.rng)  # (C,)

        trainable = ([make(self.gamma_initializer)] if self.scale else []) + (
            [make(self.beta_initializer)] if self.center else [])
        self.weights = trainable + [make(self.moving_mean_initializer), make(self.moving_variance_initializer)]
        self.gradients = [np.zeros_like(w) for w in trainable]
        super().build(input_shape)

    @property
    def gamma(self):
        return self.weights[0] if self.scale else None

    @property
    def beta(self):
        return self.weights[int(self.scale)] if self.center else None

    @property
    def moving_mean(self):
        return self.weights[-2]

    @property
    def moving_variance(self):
        return self.weights[-1]

    # --- forward and backward ---------------------------------------------------------------
    def forward(self, x, training=False):
        """y = gamma * (x - mean) / sqrt(variance + epsilon) + beta; training mode updates the moving statistics."""
        return self._forward(x, training, relu=False, max_value=None)

    def forward_with_relu(self, x, max_value=None, training=False):
        """y = min(max(forward(x), 0), max_value) in one pass: BatchNormalization then
        ReLU (max_value None) or ReLU6 (max_value=6.0). Follow with ``backward_with_relu``."""
        if max_value is not None and not _real(max_value, "max_value") > 0:
            raise ValueError(f"max_value must be > 0 or None, got {max_value!r}")
        return self._forward(x, training, relu=True, max_value=max_value)

    def _forward(self, x, training, relu, max_value):
        x = check_array(x, "x", np.ndim(x)).astype(self.dtype, copy=False)
        if not self.built:
            self.build((None, *x.shape[1:]))
        if self.input_shape is not None and x.ndim != len(self.input_shape):
            raise ValueError(f"layer {self.name!r} expects an input of rank {len(self.input_shape)}, "
                             f"got shape {x.shape}")
        axis = self._channel_axis(x.ndim)
        if x.shape[axis] != self.moving_mean.shape[0]:
            raise ValueError(f"layer {self.name!r} expects {self.moving_mean.shape[0]} channels on axis "
                             f"{self.axis}, got x of shape {x.shape}")
        batch_mode = bool(training) and self.trainable  # Keras 3: a frozen BN layer runs in inference mode
        if batch_mode:
            mean, variance = batchnorm.batch_norm_moments(x, axis)  # (C,) each, x's dtype
            momentum, rest = self.dtype.type(self.momentum), self.dtype.type(1.0 - self.momentum)
            self.moving_mean[...] = self.moving_mean * momentum + mean * rest
            self.moving_variance[...] = self.moving_variance * momentum + variance * rest
        else:
            mean, variance = self.moving_mean.copy(), self.moving_variance.copy()
        y = batchnorm.batch_norm_forward(x, mean, variance, self.gamma, self.beta, self.epsilon, axis,
                                         relu, max_value, with_mask=relu)
        y, keep = y if relu else (y, None)  # keep: the relu's mask, a byte per value (see _backward)
        self._cache = (x, mean, variance, batch_mode, relu, max_value, y.shape, y if relu else None, keep)
        return y

    def backward(self, dy):
        """dx for the forward's input; self.gradients = [dgamma, dbeta] (those that exist). dy is
        the gradient of the normalised output, also after ``forward_with_relu`` (x, mean and
        variance are all this needs)."""
        return self._backward(dy, None, relu=False, max_value=None)

    def backward_with_relu(self, dy, y, max_value=None):
        """dx after ``forward_with_relu(x, max_value)``: dy is the gradient of its output y, and the
        relu's mask is read from y (0 < y < max_value); fills self.gradients as ``backward``. When
        y is that forward's own array, the mask the forward wrote (a byte per value) is read instead."""
        return self._backward(dy, y, relu=True, max_value=max_value)

    def _backward(self, dy, y, relu, max_value):
        if self._cache is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        x, mean, variance, batch_mode, forward_relu, forward_max, y_shape, forward_y, keep = self._cache
        if relu and (not forward_relu or max_value != forward_max):  # plain backward needs no y: either forward
            raise ValueError(f"layer {self.name!r}: backward_with_relu does not match the last forward "
                             f"(relu={forward_relu}, max_value={forward_max})")
        dy = check_grad(dy, "dy", y_shape, None).astype(self.dtype, copy=False)
        if relu:
            y = check_grad(y, "y", y_shape, None).astype(self.dtype, copy=False)
        dx, dgamma, dbeta = batchnorm.batch_norm_backward(  # the forward's own y: its mask, not y, is read
            dy, x, mean, variance, self.gamma, self.epsilon, self._channel_axis(x.ndim), batch_mode, y,
            relu, max_value, keep if relu and y is forward_y else None)
        grads = ([dgamma] if self.scale else []) + ([dbeta] if self.center else [])
        for live, new in zip(self.gradients, grads):
            live[...] = new
        return dx
