"""Conv2D and PointwiseConv2D, and the base every convolution layer shares (DepthwiseConv2D and
SeparableConv2D are in ``depthwise.py``): Keras's layers on scratchconv's kernels.

Each layer takes the Keras constructor arguments that change the math, applies
Keras's acceptance rules (same rules, same ``ValueError``), holds its weights in
Keras's shapes and order, and runs the fast kernels::

    layer                 weights (get_weights() order)                      output channels
    Conv2D                kernel (kh, kw, C/groups, F), bias (F,)            F
    PointwiseConv2D       kernel (1, 1, C/groups, F),   bias (F,)            F
    DepthwiseConv2D       depthwise_kernel (kh, kw, C, M), bias (C*M,)       C*M
    SeparableConv2D       depthwise_kernel (kh, kw, C, M),
                          pointwise_kernel (1, 1, C*M, F), bias (F,)         F

forward:  z = kernel(x) + bias;  y = activation(z)
backward: dz = activation'(dy);  (dx, dweights..., dbias) = kernel_backward(dz)

With a bias and a relu or selu activation in 'channels_last', the bias goes in with the
activation, in one pass over the kernel's output (``activations.forward_with_bias``), and
dbias comes out of the activation's backward pass (``activations.backward_with_bias``):
two passes over a 28x28x32 batch fewer per layer and step.

The kernels work in NHWC. With ``data_format='channels_first'`` the layer
transposes NCHW -> NHWC before the kernel and back after it; the activation is
applied in the user's layout, as Keras does (this matters only for softmax, which
Keras takes over the last axis: the channels with 'channels_last', the width with
'channels_first').

Like a Keras layer, a float input is cast to the layer's dtype (float32 by
default, float64 with ``dtype='float64'``).
"""


import numpy as np

from ..kernels import activations
from ..kernels.arguments import check_array, check_grad, check_padding, conv_output_size, keras_pair
from ..kernels.arguments import is_int as _is_int
from ..kernels.pointwise import pointwise_conv2d_strided, pointwise_conv2d_strided_backward
from ..kernels.standard import _conv2d_backward, _conv2d_forward, _prepare, check_algorithm
from . import initializers
from .base import Layer

DATA_FORMATS = ("channels_last", "channels_first")


# --------------------------------------------------------------------------- argument rules (Keras's)


def positive_int(value, name):
    """filters, groups, depth_multiplier: an int (TypeError otherwise) that is > 0 (ValueError otherwise)."""
    if not _is_int(value):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a strictly positive int, got {value!r}")
    return int(value)


def check_data_format(value):
    """None (= 'channels_last', Keras's default image_data_format) or one of DATA_FORMATS, any case."""
    if value is None:
        return "channels_last"
    data_format = str(value).lower()
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be 'channels_last' or 'channels_first', got {value!r}")
    return data_format


def _check_initializers(*names):
    """Unknown initializer names fail at construction (ValueError), as in Keras."""
    for name in names:
        initializers.get(name)


# --------------------------------------------------------------------------- the shared machinery


class _Conv(Layer):
    """What every convolution layer shares: arguments, shapes, layouts, activation, forward/backward."""

    def __init__(self, kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                 *, seed=None, **kwargs):
        super().__init__(**kwargs)  # name, dtype, input_shape, trainable, ...: see base.Layer
        self.kernel_size = keras_pair(kernel_size, "kernel_size")
        self.strides = keras_pair(strides, "strides")
        self.dilation_rate = keras_pair(dilation_rate, "dilation_rate")
        self.padding = check_padding(padding)
        self.data_format = check_data_format(data_format)
        self.activation = activations.name_of(activation, where=self.name)  # the Keras name
        self._activation_forward, self._activation_backward = activations.get(activation, where=self.name)
        if not isinstance(use_bias, (bool, np.bool_)):
            raise TypeError(f"use_bias must be True or False, got {use_bias!r}")
        self.use_bias = bool(use_bias)
        self.rng = np.random.default_rng(seed)  # an int, None or a np.random.Generator
        self._cache = None
        self._training = False  # whether the last forward was a training one
        self._kept = None  # what Conv2D's last training forward kept for its backward
        self._checked_shape = self._g = None  # see Conv2D._geometry and SeparableConv2D._geometry

    # --- what each layer defines ---------------------------------------------------------
    def output_channels(self, channels):
        raise NotImplementedError

    def weight_shapes(self, channels):
        """[(name, shape, initializer name)] in Keras's get_weights() order."""
        raise NotImplementedError

    def kernel_forward(self, x, bias):
        """(N, H, W, C) -> (N, H_out, W_out, C_out), plus bias (C_out,) unless it is None."""
        raise NotImplementedError

    def kernel_backward(self, dz, x, bias, input_gradient=True):
        """-> (dx, dweight..., dbias or None when bias is None), in the weights' order; with
        input_gradient=False a kernel that can skip dx returns None for it."""
        raise NotImplementedError

    # --- shapes ------------------------------------------------------------------------
    def _channels(self, input_shape):
        """The channel count of a (batch, ...) input shape, checking rank 4."""
        input_shape = tuple(input_shape)
        if len(input_shape) != 4:
            raise ValueError(
                f"layer {self.name!r} expects an input shape of rank 4 (batch, rows, cols, channels) "
                f"or (batch, channels, rows, cols), got {input_shape}"
            )
        channels = input_shape[3] if self.data_format == "channels_last" else input_shape[1]
        if not _is_int(channels) or channels < 1:
            raise ValueError(f"layer {self.name!r} needs a known, positive channel count, got input shape {input_shape}")
        return int(channels)

    def compute_output_shape(self, input_shape):
        """Keras's output shape: (N, H_out, W_out, C_out) or (N, C_out, H_out, W_out); None stays None.

        'valid': out = floor((in - d*(k-1) - 1) / s) + 1;  'same': out = ceil(in / s).
        Raises ValueError where 'valid' leaves no output, as Keras does.
        """
        input_shape = tuple(input_shape)
        channels = self._channels(input_shape)
        rows, cols = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        out = [
            conv_output_size(size, k, s, d, self.padding)
            for size, k, s, d in zip((rows, cols), self.kernel_size, self.strides, self.dilation_rate)
        ]
        if any(o is not None and o <= 0 for o in out):
            raise ValueError(
                f"layer {self.name!r}: the output would be empty: input shape {input_shape}, kernel_size "
                f"{self.kernel_size}, dilation_rate {self.dilation_rate}, strides {self.strides}, "
                f"padding='{self.padding}'"
            )
        c_out = self.output_channels(channels)
        if self.data_format == "channels_last":
            return (input_shape[0], out[0], out[1], c_out)
        return (input_shape[0], c_out, out[0], out[1])

    def build(self, input_shape):
        """Check the input shape and create the weights (Keras's shapes, order and default initializers)."""
        input_shape = tuple(input_shape)
        channels = self._channels(input_shape)
        self.compute_output_shape(input_shape)  # Keras checks the output is non-empty here too
        self.weights = [
            initializers.get(init)(shape, self.dtype, self.rng) for _, shape, init in self.weight_shapes(channels)
        ]
        self.gradients = [np.zeros_like(w) for w in self.weights]
        self.channels = channels
        super().build(input_shape)

    @property
    def weight_names(self):
        return [name for name, _, _ in self.weight_shapes(self.channels)]

    # --- layouts -----------------------------------------------------------------------
    def _to_nhwc(self, a):
        return a if self.data_format == "channels_last" else a.transpose(0, 2, 3, 1)  # NCHW -> NHWC view

    def _from_nhwc(self, a):
        if self.data_format == "channels_last":
            return a
        return np.ascontiguousarray(a.transpose(0, 3, 1, 2))  # NHWC -> NCHW

    def _input(self, x):
        x = check_array(x, "x", 4)
        if not self.built:
            self.build((None, *x.shape[1:]))
        channels = x.shape[3] if self.data_format == "channels_last" else x.shape[1]
        if channels != self.channels:
            axis = -1 if self.data_format == "channels_last" else 1
            raise ValueError(
                f"layer {self.name!r} was built for {self.channels} input channels (axis {axis}, "
                f"data_format='{self.data_format}'), got x of shape {x.shape}"
            )
        return x.astype(self.dtype, copy=False)  # Keras casts float inputs to the layer's dtype

    # --- forward / backward --------------------------------------------------------------
    def forward(self, x, training=False):
        """y = activation(conv(x) + bias), in the layer's data_format.

        x: (N, H, W, C) or (N, C, H, W)  ->  y: (N, H_out, W_out, C_out) or (N, C_out, H_out, W_out)
        """
        x = self._input(x)
        x_nhwc = self._to_nhwc(x)  # (N, H, W, C)
        self._training = bool(training)  # a kernel may then keep what its backward would recompute
        if self._bias_with_activation():
            y = activations.forward_with_bias(self.kernel_forward(x_nhwc, None), self._bias(), self.activation)
            self._cache = (x_nhwc, None, y)  # relu's and selu's backward read only y
            return y
        z = self._from_nhwc(self.kernel_forward(x_nhwc, self._bias()))  # user's layout, before the activation
        y = self._activation_forward(z)  # same shape as z
        self._cache = (x_nhwc, z, y)
        return y

    def backward(self, dy, input_gradient=True, activation_before=None):
        """dx for dy = dL/dy of the last forward; fills self.gradients (get_weights() order).

        dz = activation_backward(dy); then the kernel's backward pass gives dx and the weight
        gradients. Returns dx in the input's layout and shape. ``input_gradient=False`` (what
        a model passes to its first layer, whose dx nobody uses) lets Conv2D skip computing
        dx and return None. ``activation_before`` ('relu' or 'selu', when this layer's input is
        the output y = activation(z + b) of a layer before, channels last): returns that layer's
        (dz, dbias) instead of dx, in the depthwise backward's pass where the kernel allows
        (``kernel_backward_through``), else with ``activations.backward_with_bias``.
        """
        if self._cache is None:
            raise ValueError(f"layer {self.name!r}: call forward(x) before backward(dy)")
        x_nhwc, z, y = self._cache
        dy = check_grad(dy, "dy", y.shape, None).astype(self.dtype, copy=False)
        if z is None:  # the forward added the bias with the activation
            dz, dbias = activations.backward_with_bias(dy, y, self.activation)  # (N, H_out, W_out, C_out), (C_out,)
            return self.backward_from_preactivation(dz, dbias, input_gradient, activation_before)
        dz = self._activation_backward(dy, z, y)  # same shape as y
        dx, *grads = self.kernel_backward(self._to_nhwc(dz), x_nhwc, self._bias(), input_gradient)
        return self._store(dx, grads, activation_before)

    def activated_output(self):
        """(y, activation) when the last forward ended with y = activation(z + bias) in one pass
        (relu or selu; see the module docstring), else None: what a following layer needs to
        hand back dz and dbias instead of dy (``MaxPool2D.backward_with_activation``)."""
        if self._cache is None or self._cache[1] is not None:
            return None
        return self._cache[2], self.activation

    def backward_from_preactivation(self, dz, dbias, input_gradient=True, activation_before=None):
        """backward, given dz = dL/dz (N, H_out, W_out, C_out) and dbias of the fused forward
        (``activated_output``); returns what backward returns."""
        x = self._cache[0]
        if activation_before is not None and hasattr(self, "kernel_backward_through"):
            dz_before, dbias_before, *grads = self.kernel_backward_through(dz, x, None, activation_before)
            grads[-1] = dbias
            self._store(None, grads)
            return dz_before, dbias_before
        dx, *grads = self.kernel_backward(dz, x, None, input_gradient)
        grads[-1] = dbias
        return self._store(dx, grads, activation_before)

    def takes_input(self, y):
        """True when the last forward's input was the array y itself (channels last, not copied)."""
        return self._cache is not None and self.data_format == "channels_last" and self._cache[0] is y

    def _store(self, dx, grads, activation_before=None):
        """Copies the weight gradients into self.gradients (in place: an optimizer may hold
        references); returns dx in the input's layout, None, or with activation_before the
        layer before's (dz, dbias) (x is that layer's output)."""
        if grads[-1] is None:  # no bias
            grads = grads[:-1]
        for live, new in zip(self.gradients, grads):
            live[...] = new
        if dx is None:
            return None
        if activation_before is not None:
            return activations.backward_with_bias(dx, self._cache[0], activation_before)
        return self._from_nhwc(dx)

    def _bias(self):
        return self.weights[-1] if self.use_bias else None

    def _bias_with_activation(self):
        """True when forward adds the bias together with the activation (see the module docstring)."""
        return self.use_bias and self.activation in activations.WITH_BIAS and self.data_format == "channels_last"

    def _window(self):
        return dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate)


# --------------------------------------------------------------------------- the four layers


class Conv2D(_Conv):
    """keras.layers.Conv2D: y = activation(conv2d(x, kernel, groups) + bias).

    Keras's rules: filters and groups > 0; filters % groups == 0 and C % groups == 0
    (checked at build); strides > 1 together with dilation_rate > 1 is rejected.

    ``algorithm`` (scratchconv's own, not saved with the model): "auto", or one of
    ``standard.ALGORITHMS`` to force it (see ``scratchconv.conv2d``).
    """

    WEIGHT_ARGS = ("kernel", "bias")  # Keras argument prefixes, weight order

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", *, seed=None, algorithm="auto",
                 **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         seed=seed, **kwargs)
        self.filters = positive_int(filters, "filters")
        self.groups = positive_int(groups, "groups")
        if self.filters % self.groups != 0:
            raise ValueError(f"filters ({self.filters}) must be divisible by groups ({self.groups})")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Conv2D does not support strides > 1 together with dilation_rate > 1 (as in Keras), got "
                f"strides={self.strides} and dilation_rate={self.dilation_rate}"
            )
        _check_initializers(kernel_initializer, bias_initializer)
        self.kernel_initializer, self.bias_initializer = kernel_initializer, bias_initializer
        self.algorithm = check_algorithm(algorithm, self.kernel_size, self.strides, self.dilation_rate, self.groups)

    def output_channels(self, channels):
        return self.filters

    def weight_shapes(self, channels):
        if channels % self.groups != 0:
            raise ValueError(
                f"the input channels ({channels}) must be divisible by groups ({self.groups}) in layer {self.name!r}"
            )
        kernel = ("kernel", (*self.kernel_size, channels // self.groups, self.filters), self.kernel_initializer)
        bias = ("bias", (self.filters,), self.bias_initializer)
        return [kernel, bias] if self.use_bias else [kernel]

    def _geometry(self, x):
        """The window geometry for x, from conv2d's argument checks, run once per input shape: x
        comes checked by forward and the weights are the layer's own (their shapes and dtype fixed
        at build). Saves about 20-60 us per call, two calls per layer and step."""
        if self._checked_shape != x.shape:
            window = self._window()
            self._g = _prepare(x, self.weights[0], self._bias(), window["strides"], window["padding"],
                               window["dilation_rate"], self.groups)[4]
            self._checked_shape = x.shape
        return self._g

    def _one_by_one(self):
        """Whether this layer runs as ``PointwiseConv2D`` does (a 1x1 window, no groups, algorithm
        'auto'): one matrix product on the pixels the strides keep, no unfold. Measured in a
        MobileNet step (96x96, batch 32): its 1x1 layers 96 ms this way against 103 ms through conv2d."""
        return self.kernel_size == (1, 1) and self.groups == 1 and self.algorithm == "auto"

    def kernel_forward(self, x, bias):
        """conv2d; in training, the unfolded input is kept for the backward, which then does not
        unfold the batch again (``standard._conv2d_forward``'s keep), and "auto" picks the algorithm
        by forward + that backward (``standard.auto_algorithm``'s "training"), which runs it too."""
        self._kept = None  # freed first: the new one can take its memory
        if self._one_by_one():
            return pointwise_conv2d_strided(x, self.weights[0], bias, self.strides)
        y, self._kept = _conv2d_forward(x, self.weights[0], bias, self._geometry(x), self.groups, keep=self._training,
                                        algorithm=self.algorithm)
        return y  # (N, H_out, W_out, F)

    def kernel_backward(self, dz, x, bias, input_gradient=True, activation=None):
        """conv2d_backward (dx only with input_gradient), from the last forward's kept input;
        with an activation, ``standard._conv2d_backward``'s (dz_before, dkernel, dbias, dbias_before)."""
        g = self._geometry(x)
        dz = check_grad(dz, "dz", (g.n, g.out_h, g.out_w, self.filters), x.dtype)  # (N, H_out, W_out, F)
        if self._one_by_one():
            dx, dkernel, dbias = pointwise_conv2d_strided_backward(dz, x, self.weights[0], bias, self.strides)
            if activation is None:
                return dx, dkernel, dbias
            dz_before, dbias_before = activations.backward_with_bias(dx, x, activation)
            return dz_before, dkernel, dbias, dbias_before
        return _conv2d_backward(dz, x, self.weights[0], bias is not None, g, self.groups, input_gradient,
                                self._kept, activation, algorithm=self.algorithm)

    def kernel_backward_through(self, dz, x, bias, activation):
        """kernel_backward when x = activation(z + b) of the layer before: (dz_before, dbias_before,
        dkernel, dbias), dz_before from the row method's fold where it applies, saving a pass over x."""
        # Conv2D's own: PointwiseConv2D overrides kernel_backward for its 1x1 path (groups == 1)
        dz_before, dkernel, dbias, dbias_before = Conv2D.kernel_backward(self, dz, x, bias, True, activation)
        return dz_before, dbias_before, dkernel, dbias


class PointwiseConv2D(Conv2D):
    """A 1x1 Conv2D (keras.layers.Conv2D(filters, 1, ...)): each pixel's channels times a (C, F) matrix.

    With groups=1 it runs ``pointwise_conv2d`` on x[:, ::sh, ::sw, :] (a 1x1 window with strides
    just skips pixels, and 'same' adds no padding for a 1x1 window); with groups > 1, ``conv2d``.
    """

    WEIGHT_ARGS = ("kernel", "bias")  # Keras argument prefixes, weight order

    def __init__(self, filters, strides=1, padding="valid", data_format=None, groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 *, seed=None, **kwargs):
        super().__init__(filters, 1, strides, padding, data_format, 1, groups, activation, use_bias,
                         kernel_initializer, bias_initializer, seed=seed, **kwargs)

    def kernel_forward(self, x, bias):
        if self.groups > 1:
            return super().kernel_forward(x, bias)
        return pointwise_conv2d_strided(x, self.weights[0], bias, self.strides)

    def kernel_backward(self, dz, x, bias, input_gradient=True):
        if self.groups > 1:
            return super().kernel_backward(dz, x, bias, input_gradient)
        return pointwise_conv2d_strided_backward(dz, x, self.weights[0], bias, self.strides)

    def kernel_backward_through(self, dz, x, bias, activation):
        if self.groups > 1:
            return super().kernel_backward_through(dz, x, bias, activation)
        dx, dkernel, dbias = self.kernel_backward(dz, x, bias)
        return (*activations.backward_with_bias(dx, x, activation), dkernel, dbias)
