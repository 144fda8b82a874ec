"""Layer and model configurations: what rebuilds a network, in Keras's vocabulary.

A layer's config is ``{"class_name": ..., "config": {...}}`` with Keras's class names and
Keras's argument names, so the same dict builds the scratchconv layer or the Keras layer.

``CONFIG_KEYS`` below lists the arguments each class carries (Keras's names and meanings);
every config also carries ``name``, ``dtype`` and ``trainable``. Initializers are not carried:
a config rebuilds the network, the weights travel apart (``get_weights``/``set_weights``).

(scratchconv's PointwiseConv2D is saved as a Conv2D with kernel_size 1, which is what it is.)
"""

import numpy as np

from .. import layers as L



def _per_weight(*prefixes):
    """kernel_regularizer, kernel_constraint, ... for the weights named by ``prefixes``."""
    return tuple(f"{p}_{kind}" for p in prefixes for kind in ("regularizer", "constraint"))


_WINDOW = ("strides", "padding", "data_format")
CONFIG_KEYS = {
    "Conv2D": ("filters", "kernel_size", *_WINDOW, "dilation_rate", "groups", "activation", "use_bias",
               *_per_weight("kernel", "bias")),
    "SeparableConv2D": ("filters", "kernel_size", *_WINDOW, "dilation_rate", "depth_multiplier", "activation",
                        "use_bias", *_per_weight("depthwise", "pointwise", "bias")),
    "DepthwiseConv2D": ("kernel_size", *_WINDOW, "depth_multiplier", "dilation_rate", "activation", "use_bias",
                        *_per_weight("depthwise", "bias")),
    "MaxPooling2D": ("pool_size", *_WINDOW),
    "AveragePooling2D": ("pool_size", *_WINDOW),
    "GlobalAveragePooling2D": ("data_format", "keepdims"),
    "GlobalMaxPooling2D": ("data_format", "keepdims"),
    "Flatten": ("data_format",),
    "Dense": ("units", "activation", "use_bias", *_per_weight("kernel", "bias")),
    "Activation": ("activation",),
    "ReLU": ("max_value", "negative_slope", "threshold"),
    "LeakyReLU": ("negative_slope",),
    "BatchNormalization": ("axis", "momentum", "epsilon", "center", "scale", *_per_weight("gamma", "beta")),
    "Dropout": ("rate", "noise_shape", "seed"),
    "SpatialDropout2D": ("rate", "data_format", "seed"),
    "GaussianNoise": ("stddev", "seed"),
    "ZeroPadding2D": ("padding", "data_format"),
    "Cropping2D": ("cropping", "data_format"),
    "UpSampling2D": ("size", "data_format", "interpolation"),
    "Reshape": ("target_shape",),
    "Rescaling": ("scale", "offset"),
}
# The scratchconv layer class of each Keras class name (its name in scratchconv.layers).
CLASSES = {name: name for name in CONFIG_KEYS} | {"MaxPooling2D": "MaxPool2D"}


def layer_class(class_name):
    """The scratchconv layer class for a Keras class name (or one of its aliases)."""
    return getattr(L, CLASSES[KERAS_ALIASES.get(class_name, class_name)])
KERAS_ALIASES = {"MaxPool2D": "MaxPooling2D", "AvgPool2D": "AveragePooling2D", "PointwiseConv2D": "Conv2D",
                 "GlobalAvgPool2D": "GlobalAveragePooling2D", "GlobalMaxPool2D": "GlobalMaxPooling2D"}
# Every config may also carry name, dtype and trainable.
COMMON_KEYS = ("name", "dtype", "trainable")


def _plain(value):
    """JSON-friendly: tuples become lists, numpy scalars Python numbers."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def layer_config(layer):
    """{"class_name", "config"} of a scratchconv layer (name and dtype included)."""
    class_name = KERAS_ALIASES.get(type(layer).__name__, type(layer).__name__)
    if class_name not in CONFIG_KEYS:
        raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no saved form; "
                         f"supported: {sorted(CONFIG_KEYS)}")
    from .keras_compile import per_weight_config

    per_weight = per_weight_config(layer)  # Keras's serialised regularizers and constraints
    config = {key: per_weight[key] if key in per_weight else _plain(getattr(layer, key, 1))
              for key in CONFIG_KEYS[class_name]}
    if isinstance(layer, L.PointwiseConv2D):
        config.update(kernel_size=[1, 1], dilation_rate=[1, 1])
    config.update(name=layer.name, dtype=str(layer.dtype), trainable=layer.trainable)
    return {"class_name": class_name, "config": config}


def layer_from_config(entry):
    """The scratchconv layer for a {"class_name", "config"} dict (unknown keys are an error)."""
    class_name, config = entry["class_name"], dict(entry["config"])
    class_name = KERAS_ALIASES.get(class_name, class_name)
    if class_name not in CLASSES:
        raise ValueError(f"scratchconv has no layer {class_name!r}; supported: {sorted(CLASSES)}")
    allowed = set(CONFIG_KEYS[class_name]) | set(COMMON_KEYS)
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"{class_name} config has keys scratchconv does not know: {sorted(unknown)}")
    for key, value in config.items():
        if isinstance(value, list):
            config[key] = tuple(value)
    return layer_class(class_name)(**config)


def model_config(model):
    return {"name": model.name, "input_shape": _plain(model.input_shape),
            "layers": [layer_config(layer) for layer in model.layers]}
