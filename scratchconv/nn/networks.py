"""The article's two networks, built from scratchconv layers.

The Fashion-MNIST network (``fashion_mnist_model``):

    Conv2D(32, 3, 'same', selu, input 28x28x1)
    SeparableConv2D(32) -> MaxPool2D(2)
    SeparableConv2D(64) x2 -> MaxPool2D(2)
    SeparableConv2D(128) x2 -> MaxPool2D(2)
    Flatten -> Dense(128, selu) -> Dense(10, softmax)

kind='standard' swaps every SeparableConv2D for a Conv2D: 435,306 parameters vs 184,234.

The 10 Monkey Species network (``monkeys_model``; as ``reference.monkeys.build_model``):

    Conv2D(32, 3, 'same', relu, input 128x128x3), Conv2D(32) -> MaxPool2D(2)
    Conv2D(64) x2 -> MaxPool2D(2)
    Conv2D(128) x2 -> MaxPool2D(2)
    Flatten -> Dense(128, relu) -> Dense(10, softmax)

4,482,730 parameters; kind='separable' keeps the first Conv2D and swaps the others for
SeparableConv2D.

MobileNet v1 (``mobilenet``; as ``keras.applications.MobileNet(weights=None, include_top=True)``,
the same layer names, so that weights move between the two by name or in order):

    Conv2D(32a, 3, strides 2, 'same', no bias) -> BatchNormalization -> ReLU(6)
    13 blocks: [ZeroPadding2D((0,1),(0,1)) where the stride is 2] -> DepthwiseConv2D(3, stride 1 'same'
               or 2 'valid', no bias) -> BatchNormalization -> ReLU(6) -> Conv2D(F a, 1, no bias)
               -> BatchNormalization -> ReLU(6)     with F = 64, 128, 128, 256, 256, 512 x6, 1024, 1024
               and stride 2 in blocks 2, 4, 6 and 12
    GlobalAveragePooling2D(keepdims) -> Dropout -> Conv2D(classes, 1) -> Reshape((classes,)) -> softmax

where a is ``alpha`` (the width multiplier: every layer's filters times a, rounded down).
"""

import numpy as np

from .. import layers as L
from ..layers import Conv2D, SeparableConv2D
from ..layers.core import Dense, Flatten, MaxPool2D
from .model import Sequential

KINDS = ("separable", "standard")


def fashion_mnist_model(kind="separable", seed=None, dtype="float32"):
    """The article's network; weights drawn (glorot_uniform, zero biases) from one seeded stream."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)  # shared by every layer, drawn in layer order
    conv = SeparableConv2D if kind == "separable" else Conv2D
    common = dict(kernel_size=3, padding="same", activation="selu", seed=rng, dtype=dtype)
    layers = [Conv2D(32, input_shape=(28, 28, 1), **common), conv(32, **common), MaxPool2D(2, dtype=dtype)]
    for filters in (64, 128):
        layers += [conv(filters, **common), conv(filters, **common), MaxPool2D(2, dtype=dtype)]
    layers += [Flatten(dtype=dtype), Dense(128, activation="selu", seed=rng, dtype=dtype),
               Dense(10, activation="softmax", seed=rng, dtype=dtype)]
    model = Sequential(layers, name=f"fashion_mnist_{kind}")
    model.build()
    return model


def monkeys_model(kind="standard", seed=None, dtype="float32", num_classes=10, image_size=(128, 128)):
    """The article's 10-monkeys CNN (kind 'standard', as the article) or its separable version."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = np.random.default_rng(seed)  # shared by every layer, drawn in layer order
    conv = SeparableConv2D if kind == "separable" else Conv2D
    common = dict(kernel_size=3, padding="same", activation="relu", seed=rng, dtype=dtype)
    layers = [Conv2D(32, input_shape=(*image_size, 3), **common), conv(32, **common), MaxPool2D(2, dtype=dtype)]
    for filters in (64, 128):
        layers += [conv(filters, **common), conv(filters, **common), MaxPool2D(2, dtype=dtype)]
    layers += [Flatten(dtype=dtype), Dense(128, activation="relu", seed=rng, dtype=dtype),
               Dense(num_classes, activation="softmax", seed=rng, dtype=dtype)]
    model = Sequential(layers, name=f"monkeys_{kind}")
    model.build()
    return model


# (pointwise filters, stride) of MobileNet's 13 depthwise separable blocks
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                    (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet_model(input_shape=(96, 96, 3), alpha=1.0, depth_multiplier=1, dropout=1e-3, classes=10,
                    seed=None, dtype="float32"):
    """MobileNet v1 as Keras's ``applications.MobileNet(weights=None, ...)`` builds it (see above)."""
    rng = np.random.default_rng(seed)
    common = dict(use_bias=False, seed=rng, dtype=dtype)

    def bn_relu6(name):
        return [L.BatchNormalization(name=f"{name}_bn", dtype=dtype), L.ReLU(6.0, name=f"{name}_relu", dtype=dtype)]

    layers = [Conv2D(int(32 * alpha), 3, strides=2, padding="same", name="conv1", input_shape=input_shape,
                     **common), *bn_relu6("conv1")]
    for block, (filters, stride) in enumerate(MOBILENET_BLOCKS, start=1):
        if stride == 2:
            layers.append(L.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block}", dtype=dtype))
        layers += [L.DepthwiseConv2D(3, strides=stride, padding="same" if stride == 1 else "valid",
                                     depth_multiplier=depth_multiplier, name=f"conv_dw_{block}", **common),
                   *bn_relu6(f"conv_dw_{block}"),
                   Conv2D(int(filters * alpha), 1, padding="same", name=f"conv_pw_{block}", **common),
                   *bn_relu6(f"conv_pw_{block}")]
    layers += [L.GlobalAveragePooling2D(keepdims=True, dtype=dtype, name="global_average_pooling2d"),
               L.Dropout(dropout, seed=int(rng.integers(2**31)), dtype=dtype, name="dropout"),
               Conv2D(classes, 1, padding="same", name="conv_preds", seed=rng, dtype=dtype),
               L.Reshape((classes,), name="reshape_2", dtype=dtype),
               L.Activation("softmax", name="predictions", dtype=dtype)]
    model = Sequential(layers, name=f"mobilenet_{alpha:g}_{input_shape[0]}")
    model.build()
    return model
