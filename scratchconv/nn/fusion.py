"""Where neighbouring layers of a Sequential share a pass, forward and backward.

Sequential.forward and forward_backward run a model's layers through these functions; each
layer's own ``forward`` and ``backward`` still work alone, and give the same numbers. Three
kinds of neighbours fuse:

- BatchNormalization -> ReLU() or ReLU(6.) (MobileNet's every block): the forward runs
  ``BatchNormalization.forward_with_relu``, the batch normalisation and the clip in one pass
  over the output, and the ReLU layer only records that output (``ReLU.took_output``); the
  backward skips the ReLU layer and runs ``backward_with_relu``, which reads the clip's mask
  from the output in the batch normalisation's own two passes. Saves a read and a write of
  the activations forward and a pass of three arrays backward (where the mask is a byte per
  value, written by the forward). Measured (MobileNet, 96x96, batch 32, the 27 pairs of a
  training step, 2 cores, with the faster sums in kernels/batchnorm.py): BatchNormalization +
  ReLU(6.) forward 31.8 -> 18.4 ms, backward 31.4 -> 24.2 ms.
- ZeroPadding2D -> DepthwiseConv2D('valid') where the padding is what 'same' would add
  (MobileNet's stride-2 blocks: ((0, 1), (0, 1)) before a 3x3 stride 2 window on an even size):
  the depthwise layer runs 'same' on the unpadded input (``DepthwiseConv2D.forward_same``), its
  kernels skipping the padded taps, and its backward returns the unpadded input's dx; the
  ZeroPadding2D layer only records its input (``ZeroPadding2D.folded``). Saves the padded copy
  forward and the crop backward. (A kernel holding Inf/NaN then gives what TensorFlow's float32
  kernels give with 'same', not 0 * Inf = NaN from the padded zeros.)
- A convolution ending in relu/selu with its bias -> MaxPool2D or a convolution that takes its
  output: the later layer's backward hands back the convolution's dz and dbias instead of dx
  (``activation_before``), saving a pass over the activations.
"""

import numpy as np

from ..kernels.arguments import same_padding
from ..layers.activation import ReLU
from ..layers.conv import _Conv
from ..layers.core import MaxPool2D
from ..layers.depthwise import DepthwiseConv2D
from ..layers.normalization import BatchNormalization
from ..layers.reshaping import ZeroPadding2D


def batchnorm_relu_pairs(layers):
    """{i: max_value} for each BatchNormalization layers[i] followed by a ReLU that its
    forward_with_relu computes exactly (``ReLU.batchnorm_max_value``); not the last layer, whose
    backward the model calls itself."""
    pairs = {}
    for i in range(len(layers) - 2):
        if isinstance(layers[i], BatchNormalization) and isinstance(layers[i + 1], ReLU):
            fuses, max_value = layers[i + 1].batchnorm_max_value()
            if fuses:
                pairs[i] = max_value
    return pairs


def padding_folds(pad, conv, x_shape):
    """True when ZeroPadding2D pad followed by DepthwiseConv2D conv('valid') equals conv with 'same'
    padding on pad's input of shape x_shape (both channels last)."""
    if not (isinstance(pad, ZeroPadding2D) and isinstance(conv, DepthwiseConv2D) and conv.padding == "valid"
            and pad.data_format == conv.data_format == "channels_last" and len(x_shape) == 4):
        return False
    same = [same_padding(size, k, s, d)[1:] for size, k, s, d in
            zip(x_shape[1:3], conv.kernel_size, conv.strides, conv.dilation_rate)]  # [(top, bottom), (left, right)]
    return [tuple(p) for p in pad.padding] == same


def forward(layers, x, training):
    """(the last layer's output, fused) running every layer, a fused pair as one; fused holds
    {i: ('relu', max_value, y)} for each BatchNormalization + ReLU pair (i, i + 1), y their
    output, and {i: ('pad',)} for each ZeroPadding2D folded into the DepthwiseConv2D i + 1."""
    pairs, fused, skip = batchnorm_relu_pairs(layers), {}, False
    for i, layer in enumerate(layers):
        if skip:  # the second layer of a fused pair: already run
            skip = False
            continue
        if i in pairs:
            x = layer.forward_with_relu(x, pairs[i], training=training)
            layers[i + 1].took_output(x)
            fused[i], skip = ("relu", pairs[i], x), True
        elif i + 1 < len(layers) and padding_folds(layer, layers[i + 1], np.shape(x)):
            layer.folded(x)
            x = layers[i + 1].forward_same(x, training=training)
            fused[i], skip = ("pad",), True
        else:
            x = layer.forward(x, training=training)
    return x, fused


def backward(layers, d, fused):
    """Runs the backward of layers[-2] down to layers[0] from d = dL/d(layers[-2]'s output), with
    the fusions above; fused: what ``forward`` returned with the last forward. Fills every
    layer's gradients; the first layer's dx is not computed where it can be skipped."""
    pending = None  # (dz, dbias) of layers[i], when the layer after it already computed them
    for i in range(len(layers) - 2, -1, -1):
        if fused.get(i - 1, ("",))[0] == "relu" or fused.get(i, ("",))[0] == "pad":
            continue  # a fused pair's ReLU (its BatchNormalization takes d), a folded padding (dx is x's)
        layer, before = layers[i], layers[i - 1] if i > 0 else None
        activated = activation_before(layer, before)  # (before's output y, its relu/selu) or None
        if i in fused:
            d = layer.backward_with_relu(d, fused[i][2], fused[i][1])
        elif isinstance(layer, MaxPool2D) and activated is not None:
            pending = layer.backward_with_activation(d, *activated)
            if pending is None:  # overlapping windows: the pool's own backward
                d = layer.backward(d)
        elif isinstance(layer, _Conv):
            through = activated[1] if activated is not None and hasattr(layer, "kernel_backward_through") else None
            if pending is not None:
                out = layer.backward_from_preactivation(*pending, input_gradient=i > 0, activation_before=through)
            else:
                out = layer.backward(d, input_gradient=i > 0, activation_before=through)
            pending, d = (out, None) if through is not None else (None, out)
        else:
            d = layer.backward(d)


def activation_before(layer, before):
    """(y, activation) of before (its output and 'relu' or 'selu') when before is a convolution
    whose forward ended with it (fused with the bias) and layer took y as it is: then layer's backward
    can hand back before's dz and dbias directly (MaxPool2D.backward_with_activation, a
    separable convolution's depthwise backward, Conv2D's fold), saving a pass over the activations.
    Measured (batch 32, separable network): MaxPool2D 0.95 -> 0.56 ms at 28x28x32."""
    activated = before.activated_output() if isinstance(before, _Conv) else None
    if activated is None or not isinstance(layer, (MaxPool2D, _Conv)):
        return None
    if isinstance(layer, _Conv) and not layer.takes_input(activated[0]):
        return None
    return activated
