"""Layer and model configurations: what rebuilds a network, in Keras's vocabulary.

A layer's config is ``{"class_name": ..., "config": {...}}`` with Keras's class names and
Keras's argument names, so the same dict builds the scratchconv layer or the Keras layer:

    Conv2D           filters kernel_size strides padding data_format dilation_rate groups activation use_bias
    SeparableConv2D  filters kernel_size strides padding data_format dilation_rate depth_multiplier activation use_bias
    DepthwiseConv2D  kernel_size strides padding depth_multiplier data_format dilation_rate activation use_bias
    MaxPooling2D     pool_size strides padding data_format
    Flatten          data_format
    Dense            units activation use_bias
    Activation       activation

(scratchconv's PointwiseConv2D is saved as a Conv2D with kernel_size 1, which is what it is.)
"""

import numpy as np

from ..layers import Conv2D, DepthwiseConv2D, PointwiseConv2D, SeparableConv2D
from ..layers.core import Activation, Dense, Flatten, MaxPool2D

_WINDOW = ("strides", "padding", "data_format")
CONFIG_KEYS = {
    "Conv2D": ("filters", "kernel_size", *_WINDOW, "dilation_rate", "groups", "activation", "use_bias"),
    "SeparableConv2D": ("filters", "kernel_size", *_WINDOW, "dilation_rate", "depth_multiplier", "activation",
                        "use_bias"),
    "DepthwiseConv2D": ("kernel_size", *_WINDOW, "depth_multiplier", "dilation_rate", "activation", "use_bias"),
    "MaxPooling2D": ("pool_size", *_WINDOW),
    "Flatten": ("data_format",),
    "Dense": ("units", "activation", "use_bias"),
    "Activation": ("activation",),
}
CLASSES = {"Conv2D": Conv2D, "SeparableConv2D": SeparableConv2D, "DepthwiseConv2D": DepthwiseConv2D,
           "MaxPooling2D": MaxPool2D, "Flatten": Flatten, "Dense": Dense, "Activation": Activation}
KERAS_ALIASES = {"MaxPool2D": "MaxPooling2D", "PointwiseConv2D": "Conv2D"}


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
    config = {key: _plain(getattr(layer, key, 1)) for key in CONFIG_KEYS[class_name]}
    if isinstance(layer, PointwiseConv2D):
        config.update(kernel_size=[1, 1], dilation_rate=[1, 1])
    config.update(name=layer.name, dtype=str(layer.dtype))
    return {"class_name": class_name, "config": config}


def layer_from_config(entry):
    """The scratchconv layer for a {"class_name", "config"} dict (unknown keys are an error)."""
    class_name, config = entry["class_name"], dict(entry["config"])
    class_name = KERAS_ALIASES.get(class_name, class_name)
    if class_name not in CLASSES:
        raise ValueError(f"scratchconv has no layer {class_name!r}; supported: {sorted(CLASSES)}")
    allowed = set(CONFIG_KEYS[class_name]) | {"name", "dtype"}
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"{class_name} config has keys scratchconv does not know: {sorted(unknown)}")
    for key, value in config.items():
        if isinstance(value, list):
            config[key] = tuple(value)
    return CLASSES[class_name](**config)


def model_config(model):
    return {"name": model.name, "input_shape": _plain(model.input_shape),
            "layers": [layer_config(layer) for layer in model.layers]}
