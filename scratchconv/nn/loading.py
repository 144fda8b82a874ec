"""Building a Sequential from a file: load_checkpoint (scratchconv's own .npz checkpoint) and
from_keras (a Keras model object, or a saved .keras/.h5 file).

TensorFlow/Keras are imported only inside from_keras: scratchconv.nn imports without them.
"""

import os
import warnings

from . import checkpoint, losses, optimizers
from .config import CONFIG_KEYS, KERAS_ALIASES, layer_class, layer_from_config, weight_prefixes
from .keras_compile import compile_from_keras, unsupported_arguments
from .keras_io import import_keras
from .model import Sequential

# Keras arguments that scratchconv does not carry and that cannot change what the loaded network
# computes or how it trains: the initializers (the weights are copied) and bookkeeping.
_CHECKED_THERE = {"activity_regularizer", "lora_rank", "lora_alpha", "quantization_config"}
_IRRELEVANT = {"name", "dtype", "trainable", "kernel_initializer", "bias_initializer", "depthwise_initializer",
               "pointwise_initializer", "beta_initializer", "gamma_initializer", "moving_mean_initializer",
               "moving_variance_initializer", "renorm_momentum", "renorm_clipping"}

# Arguments taken from the Keras layer's attribute (the value as given) rather than its config:
# Keras's config writes Rescaling's np.float64 or 0-d array scale as a Python float, which both
# frameworks would round to float32 (the attribute, used as given, is not), and any other array as
# {'class_name': '__numpy__', ...}.
_AS_GIVEN = {"Rescaling": ("scale", "offset")}


def load_checkpoint(path):
    """The model saved in ``path``: built, weights set, compiled with the optimizer's state restored.

    ``model.resume_state`` holds the training state; ``model.fit(..., resume=True)`` continues it.
    """
    state = checkpoint.read_state(path)
    if state.get("format") != checkpoint.FORMAT:
        raise ValueError(f"{path} is not a scratchconv checkpoint")
    model = Sequential.from_config(state["model"])
    model.set_weights(state["weights"])
    if state["compile"] is not None:
        model.compile(optimizers.get(state["compile"]["optimizer"]), losses.get(state["compile"]["loss"]),
                      state["compile"]["metrics"])
        model.optimizer.set_state(state["optimizer_state"])
    model.rng = checkpoint.generator_from_state(state["rng"])
    for layer, rng_state in zip(model.layers, state.get("layer_rngs") or []):  # absent before they were saved
        if rng_state is not None:
            layer.rng = checkpoint.generator_from_state(rng_state)
    model.resume_state = state["training"]
    model.epochs_done = state["training"]["epoch"]
    return model


def _default(keras_layer, key):
    """Keras's default for the constructor argument ``key`` (inspect.Parameter.empty if none)."""
    import inspect

    for cls in type(keras_layer).__mro__:
        parameter = inspect.signature(cls.__init__).parameters.get(key)
        if parameter is not None:
            return parameter.default
    return inspect.Parameter.empty


def _short(value):
    """A Keras config value as a user wrote it: {'class_name': 'L2', 'config': {'l2': 0.01}} -> L2(l2=0.01)."""
    if isinstance(value, dict) and "class_name" in value:
        arguments = ", ".join(f"{k}={v!r}" for k, v in (value.get("config") or {}).items() if v is not None)
        return f"{value['class_name']}({arguments})"
    return repr(value)


def _layer_entry(keras_layer):
    """(the config dict of one Keras layer for scratchconv, [what scratchconv cannot carry over]).

    Every argument of the Keras config is either carried (``CONFIG_KEYS``), irrelevant once the
    weights are copied (``_IRRELEVANT``), or at its Keras default; anything else is a problem.
    """
    keras_class = type(keras_layer).__name__
    where = f"layer {keras_layer.name!r} ({keras_class})"
    class_name = KERAS_ALIASES.get(keras_class, keras_class)
    if class_name not in CONFIG_KEYS:
        return None, [f"{where}: scratchconv has no {keras_class} layer"]
    full = keras_layer.get_config()
    prefixes = weight_prefixes(class_name, full)
    for key in CONFIG_KEYS[class_name]:  # gamma_regularizer of a BatchNormalization without scale: Keras
        if key.endswith(("_regularizer", "_constraint")) and key.rpartition("_")[0] not in prefixes:
            full[key] = None  # ignores it (no such weight), and so does scratchconv
    # regularizers, constraints, activity_regularizer, LoRA, quantization: keras_compile's checks, which
    # read the class's name and WEIGHT_ARGS (a BatchNormalization's depend on center and scale: prefixes)
    checked_as = type(layer_class(class_name).__name__, (), {"WEIGHT_ARGS": prefixes})
    problems = [f"{where}: {problem.split(': ', 1)[1]}" for problem in unsupported_arguments(checked_as, full)]
    for key, value in full.items():
        if key in CONFIG_KEYS[class_name] or key in _IRRELEVANT or value is None or value is False:
            continue
        if key in _CHECKED_THERE or key.endswith(("_regularizer", "_constraint")):
            continue
        if value != _default(keras_layer, key):
            problems.append(f"{where}: {key}={_short(value)} is not supported")
    config = {key: full[key] for key in CONFIG_KEYS[class_name] if key in full}
    for key in _AS_GIVEN.get(class_name, ()):
        config[key] = getattr(keras_layer, key)
    dtype = str(getattr(keras_layer, "compute_dtype", None) or keras_layer.dtype)
    if dtype not in ("float32", "float64"):
        problems.append(f"{where}: computes in {dtype}; scratchconv supports float32 and float64 (not mixed precision)")
    config.update(name=keras_layer.name, dtype=dtype, trainable=bool(keras_layer.trainable))
    return {"class_name": class_name, "config": config}, problems


def _chain(keras_model):
    """The model's layers (without the InputLayer), or ValueError when they are not one chain."""
    keras_layers = [layer for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]
    if type(keras_model).__name__ != "Sequential":
        previous = keras_model.inputs
        for layer in keras_layers:
            inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
            if len(inputs) != 1 or inputs[0] is not previous[0] or len(previous) != 1:
                raise ValueError(f"the Keras model {keras_model.name!r} is not a chain of layers (layer "
                                 f"{layer.name!r} does not take exactly the previous layer's output); "
                                 f"scratchconv.nn holds Sequential stacks only")
            previous = [layer.output]
    return keras_layers


def from_keras(model_or_path):
    """The scratchconv Sequential matching a Keras model (object, or a saved .keras/.h5 file), weights included.

    The Keras model must be a plain stack of supported layers (a Sequential, or a functional
    model that is a chain, like keras.applications.MobileNet). Raises one ValueError that lists
    every layer and argument scratchconv cannot hold, each with the layer's name and class.
    """
    keras = import_keras()
    if isinstance(model_or_path, (str, os.PathLike)):
        if not os.path.exists(model_or_path):
            raise FileNotFoundError(f"no Keras model file at {model_or_path}")
        keras_model = keras.models.load_model(model_or_path)
    elif isinstance(model_or_path, keras.Model):
        keras_model = model_or_path
    else:
        raise TypeError(f"from_keras takes a keras.Model or the path of a saved one, got {type(model_or_path).__name__}")
    layers, problems = [], []
    for keras_layer in _chain(keras_model):
        entry, layer_problems = _layer_entry(keras_layer)
        if entry is not None and not layer_problems:
            try:  # what only the layer's own checks catch (an activation scratchconv lacks, ...)
                layers.append(layer_from_config(entry))
            except (ValueError, TypeError) as error:
                layer_problems = [f"layer {keras_layer.name!r} ({type(keras_layer).__name__}): {error}"]
        problems += layer_problems
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ValueError(f"scratchconv cannot hold the Keras model {keras_model.name!r} as it is "
                         f"({len(problems)} problem{'s' if len(problems) > 1 else ''}):\n{listed}")
    model = Sequential(layers, name=keras_model.name)
    model.build(tuple(keras_model.input_shape))
    for layer, keras_layer in zip(model.layers, _chain(keras_model)):
        layer.set_weights(keras_layer.get_weights())
    notes = compile_from_keras(model, keras_model)
    if notes:
        warnings.warn(f"from_keras: {keras_model.name!r}: " + "; ".join(notes), stacklevel=2)
    return model
