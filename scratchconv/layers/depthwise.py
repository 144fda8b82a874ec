"""DepthwiseConv2D and SeparableConv2D: Keras's layers on scratchconv's depthwise kernels.

The shared rules, weights handling and activation fusion are in ``conv._Conv``; see
``conv.py``'s docstring for the table of weights and the forward/backward scheme.
"""

from ..kernels.depthwise import depthwise_conv2d, depthwise_conv2d_backward
from ..kernels.separable import _separable_backward, _separable_forward, check_separable_args
from .conv import _check_initializers, _Conv, positive_int


class DepthwiseConv2D(_Conv):
    """keras.layers.DepthwiseConv2D: each channel c convolved with its own M kernels, channel c*M + m out.

    Keras's rules: depth_multiplier > 0; strides > 1 with dilation_rate > 1 is accepted. Unequal
    row/column strides are computed (TensorFlow's float64 depthwise op refuses them).
    """

    WEIGHT_ARGS = ("depthwise", "bias")  # Keras argument prefixes, weight order

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", *, seed=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         seed=seed, **kwargs)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier")
        _check_initializers(depthwise_initializer, bias_initializer)
        self.depthwise_initializer, self.bias_initializer = depthwise_initializer, bias_initializer
        self._same_input = False  # the last forward was forward_same

    def output_channels(self, channels):
        return channels * self.depth_multiplier

    def forward(self, x, training=False):
        self._same_input = False
        return super().forward(x, training)

    def forward_same(self, x, training=False):
        """forward of x zero-padded as 'same' pads it, for a 'valid' layer, without the padded copy:
        what a model runs for ZeroPadding2D + this layer when the padding is 'same''s (MobileNet's
        stride-2 blocks; ``nn.fusion``). The kernels skip the padded taps; backward returns x's dx."""
        self._same_input = True
        return super().forward(x, training)

    def _window(self):
        padding = "same" if self._same_input else self.padding
        return dict(strides=self.strides, padding=padding, dilation_rate=self.dilation_rate)

    def weight_shapes(self, channels):
        m = self.depth_multiplier
        kernel = ("depthwise_kernel", (*self.kernel_size, channels, m), self.depthwise_initializer)
        bias = ("bias", (channels * m,), self.bias_initializer)
        return [kernel, bias] if self.use_bias else [kernel]

    def kernel_forward(self, x, bias):
        return depthwise_conv2d(x, self.weights[0], bias, **self._window())  # (N, H_out, W_out, C*M)

    def kernel_backward(self, dz, x, bias, input_gradient=True):
        return depthwise_conv2d_backward(dz, x, self.weights[0], bias, **self._window())


class SeparableConv2D(_Conv):
    """keras.layers.SeparableConv2D: depthwise (strides, dilation; no bias) then pointwise (1x1) + bias.

    Keras's rules: filters and depth_multiplier > 0; strides > 1 with dilation_rate > 1 is accepted.
    """

    WEIGHT_ARGS = ("depthwise", "pointwise", "bias")  # Keras argument prefixes, weight order

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 *, seed=None, **kwargs):
        super().__init__(kernel_size, strides, padding, data_format, dilation_rate, activation, use_bias,
                         seed=seed, **kwargs)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier")
        self.filters = positive_int(filters, "filters")
        _check_initializers(depthwise_initializer, pointwise_initializer, bias_initializer)
        self.depthwise_initializer = depthwise_initializer
        self.pointwise_initializer = pointwise_initializer
        self.bias_initializer = bias_initializer
        self._depthwise_output = None  # kept by kernel_forward for kernel_backward

    def output_channels(self, channels):
        return self.filters

    def weight_shapes(self, channels):
        m = self.depth_multiplier
        shapes = [
            ("depthwise_kernel", (*self.kernel_size, channels, m), self.depthwise_initializer),
            ("pointwise_kernel", (1, 1, channels * m, self.filters), self.pointwise_initializer),
        ]
        if self.use_bias:
            shapes.append(("bias", (self.filters,), self.bias_initializer))
        return shapes

    def _geometry(self, x):
        """The window geometry for x, from separable_conv2d's argument checks, run once per input
        shape: x comes checked by forward and the weights are the layer's own (their shapes and
        dtype fixed at build). Saves about 60 us of checks per layer and step."""
        if self._checked_shape != x.shape:
            depthwise, pointwise = self.weights[:2]
            self._g = check_separable_args(x, depthwise, pointwise, self._bias(), **self._window())[-1]
            self._checked_shape = x.shape
        return self._g

    def kernel_forward(self, x, bias):
        """separable_conv2d, keeping the depthwise output for the backward pass (which would
        otherwise recompute it)."""
        depthwise, pointwise = self.weights[:2]
        y, self._depthwise_output = _separable_forward(x, depthwise, pointwise, bias, self._geometry(x))
        return y  # (N, H_out, W_out, F)

    def kernel_backward(self, dz, x, bias, input_gradient=True):
        depthwise, pointwise = self.weights[:2]
        return _separable_backward(dz, x, depthwise, pointwise, bias is not None,
                                   self._geometry(x), self._depthwise_output)

    def kernel_backward_through(self, dz, x, bias, activation):
        """kernel_backward when x = activation(z + b) of the layer before: (dz_before, dbias_before,
        ddepthwise, dpointwise, dbias), dz_before from the fused depthwise backward where it applies
        (``depthwise._depthwise_backward``)."""
        depthwise, pointwise = self.weights[:2]
        dz_before, ddk, dpk, dbias, dbias_before = _separable_backward(
            dz, x, depthwise, pointwise, bias is not None, self._geometry(x), self._depthwise_output, activation)
        return dz_before, dbias_before, ddk, dpk, dbias
