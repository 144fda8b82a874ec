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
    "ELU": ("alpha",),
    "Softmax": ("axis",),
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
# Keras's configs name an activation by its function: swish and hard_swish are silu and hard_silu there.
ACTIVATION_NAMES = {"swish": "silu", "hard_swish": "hard_silu"}
# Every config may also carry name, dtype and trainable.
COMMON_KEYS = ("name", "dtype", "trainable")


def _plain(value):
    """JSON-friendly where that loses nothing: tuples become lists, numpy scalars Python numbers.

    An array (Rescaling's scale and offset) becomes a (nested) list or a number when its values are
    float32 numbers: a Python float is rounded to float32 before use, by Keras and by Rescaling,
    which leaves those unchanged. Other arrays (a float64 layer's 1/3) stay arrays, which Keras
    and Rescaling use without rounding and a checkpoint stores as arrays.
    """
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        exact = value.dtype.kind in "biu" or np.array_equal(value, value.astype(np.float32))
        return value.tolist() if exact else value
    if isinstance(value, np.generic):
        return value.item()
    return value


def weight_prefixes(class_name, config):
    """The prefixes of the weights a layer of ``class_name`` built from ``config`` has, those that
    per-weight arguments may name: ('kernel', 'bias'), ...; a BatchNormalization has gamma only
    with scale=True and beta only with center=True (Keras ignores gamma_regularizer without scale)."""
    class_name = KERAS_ALIASES.get(class_name, class_name)
    if class_name == "BatchNormalization":
        return (("gamma",) if config.get("scale", True) else ()) + (("beta",) if config.get("center", True) else ())
    return layer_class(class_name).WEIGHT_ARGS


def layer_config(layer):
    """{"class_name", "config"} of a scratchconv layer (name and dtype included)."""
    class_name = KERAS_ALIASES.get(type(layer).__name__, type(layer).__name__)
    if class_name not in CONFIG_KEYS:
        raise ValueError(f"layer {layer.name!r} of type {type(layer).__name__} has no saved form; "
                         f"supported: {sorted(CONFIG_KEYS)}")
    from .keras_compile import per_weight_config

    per_weight = per_weight_config(layer)  # Keras's serialised regularizers and constraints
    arguments = [key for key in CONFIG_KEYS[class_name] if not key.endswith(("_regularizer", "_constraint"))]
    missing = [key for key in arguments if not hasattr(layer, key)]
    if missing:  # a layer keeps each argument under Keras's name: a config never guesses a value
        raise AttributeError(f"layer {layer.name!r} ({type(layer).__name__}) keeps no attribute {missing}; "
                             f"its config needs {list(arguments)}")
    # a per-weight argument of a weight the layer does not have (beta without center) is None, as in Keras
    config = {key: per_weight.get(key) if key not in arguments else _plain(getattr(layer, key))
              for key in CONFIG_KEYS[class_name]}
    if "activation" in config:
        config["activation"] = ACTIVATION_NAMES.get(config["activation"], config["activation"])
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
    prefixes = weight_prefixes(class_name, config)
    for key, value in list(config.items()):
        if isinstance(value, list):
            config[key] = _tuples(value)
        if key.endswith(("_regularizer", "_constraint")) and value is None and key.rpartition("_")[0] not in prefixes:
            del config[key]  # Keras's config names every per-weight argument; None for an absent weight
    return layer_class(class_name)(**config)


def _tuples(value):
    """Lists (JSON's) back to tuples, nested: [[1, 2], [0, 3]] -> ((1, 2), (0, 3))."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def model_config(model):
    return {"name": model.name, "input_shape": _plain(model.input_shape),
            "layers": [layer_config(layer) for layer in model.layers]}
