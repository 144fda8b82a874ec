"""Building a Sequential from a file: load_checkpoint (scratchconv's own .npz checkpoint) and
from_keras (a Keras model object, or a saved .keras/.h5 file).

TensorFlow/Keras are imported only inside from_keras: scratchconv.nn imports without them.
"""

import os

from . import checkpoint, losses, optimizers
from .config import CONFIG_KEYS, KERAS_ALIASES, layer_from_config
from .keras_io import import_keras
from .model import ACCURACY_NAMES, Sequential

# Keras arguments that change what a layer computes and that scratchconv does not implement.
_MUST_BE_UNSET = ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "lora_rank", "quantization_config")


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
    model.rng.bit_generator.state = state["rng"]
    model.resume_state = state["training"]
    model.epochs_done = state["training"]["epoch"]
    return model


def _layer_entry(keras_layer):
    """The config dict of one Keras layer, restricted to what scratchconv implements."""
    class_name = KERAS_ALIASES.get(type(keras_layer).__name__, type(keras_layer).__name__)
    if class_name not in CONFIG_KEYS:
        raise ValueError(f"Keras layer {keras_layer.name!r} is a {type(keras_layer).__name__}, which scratchconv "
                         f"does not have; supported: {sorted(CONFIG_KEYS)}")
    full = keras_layer.get_config()
    for key in _MUST_BE_UNSET:
        if full.get(key) is not None:
            raise ValueError(f"Keras layer {keras_layer.name!r} sets {key}={full[key]!r}, which scratchconv "
                             f"does not implement")
    config = {key: full[key] for key in CONFIG_KEYS[class_name] if key in full}
    dtype = str(getattr(keras_layer, "compute_dtype", None) or keras_layer.dtype)
    if dtype not in ("float32", "float64"):
        raise ValueError(f"Keras layer {keras_layer.name!r} computes in {dtype}; scratchconv supports float32 "
                         f"and float64 (not mixed precision)")
    config.update(name=keras_layer.name, dtype=dtype)
    return {"class_name": class_name, "config": config}


def _compile_from_keras(model, keras_model):
    """Compiles ``model`` like ``keras_model`` when its optimizer, loss and metrics map onto ours."""
    config = keras_model.get_compile_config() if getattr(keras_model, "compiled", False) else {}
    optimizer, loss = config.get("optimizer"), config.get("loss")
    if isinstance(loss, dict):  # a serialized Loss object
        from_logits = loss["config"].get("from_logits", False)
        loss = None if from_logits else loss["config"].get("name")
    if not isinstance(optimizer, dict) or loss not in losses.LOSSES:
        return
    name = optimizer["class_name"].lower()
    keys = optimizers.KERAS_KEYS.get(name)
    if keys is None or not isinstance(optimizer["config"].get("learning_rate"), float):
        return  # another optimizer, or a learning-rate schedule
    metrics = [m for m in config.get("metrics") or [] if m in ACCURACY_NAMES]
    model.compile(optimizers.OPTIMIZERS[name](**{k: optimizer["config"][k] for k in keys}), loss, metrics)


def from_keras(model_or_path):
    """The scratchconv Sequential matching a Keras model (object, or a saved .keras/.h5 file), weights included.

    The Keras model must be a plain stack of supported layers (a Sequential, or a functional
    model that is a chain). Raises ValueError naming the first layer scratchconv cannot hold.
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
    keras_layers = [layer for layer in keras_model.layers if type(layer).__name__ != "InputLayer"]
    model = Sequential([layer_from_config(_layer_entry(layer)) for layer in keras_layers], name=keras_model.name)
    model.build(tuple(keras_model.input_shape))
    for layer, keras_layer in zip(model.layers, keras_layers):
        layer.set_weights(keras_layer.get_weights())
    _compile_from_keras(model, keras_model)
    return model
