"""What a Keras model's training settings mean here: its compile config and its layers' per-weight arguments.

    notes = compile_from_keras(model, keras_model)     # compiles model like keras_model where it can;
                                                       # returns what it could not carry over, in words
    problems = unsupported_arguments(Dense, config)    # why a Keras layer config cannot be built here

Nothing is dropped silently. ``compile_from_keras`` does not raise: compiling is a setting the
user can redo (``model.compile(...)``), so what cannot be carried over comes back as notes for
``from_keras`` to emit as one warning. ``unsupported_arguments`` lists what would change the
computation (an OrthogonalRegularizer, an activity regularizer, LoRA, quantization), so
``from_keras`` can refuse the model with every problem named at once.

The reverse direction, for ``to_keras``: ``keras_optimizer`` and ``keras_loss`` make the Keras
objects from ours (schedules included).
"""

from . import losses, optimizers
from .regularizers import get_constraint, get_regularizer

ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")
KERAS_METRIC_CLASSES = {"SparseCategoricalAccuracy": "sparse_categorical_accuracy",
                        "CategoricalAccuracy": "categorical_accuracy"}
# Keras compile arguments that change what is trained, with the value that means "not used".
KERAS_COMPILE_OFF = {"loss_weights": None, "weighted_metrics": None}


def _name(entry):
    """A metric/loss entry of Keras's compile config as a readable string."""
    return entry.get("class_name", entry) if isinstance(entry, dict) else entry


def _metrics(entries, notes):
    metrics = []
    for entry in entries or []:
        name = KERAS_METRIC_CLASSES.get(entry.get("class_name")) if isinstance(entry, dict) else entry
        if name in ACCURACY_NAMES:
            metrics.append(name)
        else:
            notes.append(f"metric {_name(entry)!r} was not carried over; scratchconv's metrics are "
                         f"{list(ACCURACY_NAMES)}")
    return metrics


def compile_from_keras(model, keras_model):
    """Compiles ``model`` like ``keras_model`` (optimizer with its schedule, loss with from_logits,
    accuracy metrics). Returns the list of what was not carried over ([] when everything was, or
    when the Keras model was not compiled); when the optimizer or the loss cannot be carried
    over, ``model`` is left uncompiled and the notes say how to compile it."""
    if not getattr(keras_model, "compiled", False):
        return []
    config = keras_model.get_compile_config()
    notes = [f"compile argument {key}={config[key]!r} was not carried over (scratchconv does not implement it)"
             for key, off in KERAS_COMPILE_OFF.items() if config.get(key, off) != off]
    optimizer, loss = config.get("optimizer"), config.get("loss")
    problems = []
    if isinstance(optimizer, str):
        optimizer = {"class_name": optimizer, "config": {}}
    if not isinstance(optimizer, dict):
        problems.append(f"optimizer {optimizer!r} is not a Keras optimizer config")
    else:
        problems += optimizers.keras_problems(optimizer["class_name"], optimizer.get("config") or {})
    if isinstance(loss, (list, dict)) and not (isinstance(loss, dict) and "class_name" in loss):
        problems.append(f"loss {loss!r} has one entry per output; scratchconv models have one output")
    else:
        problems += losses.keras_problems(_name(loss), (loss.get("config") or {}) if isinstance(loss, dict) else {})
    metrics = _metrics(config.get("metrics"), notes)
    if problems:
        return notes + [f"{p}; the model was not compiled: call model.compile(optimizer, loss, metrics) with an "
                        f"optimizer of {sorted(optimizers.OPTIMIZERS)} and a loss of {sorted(losses.LOSSES)}"
                        for p in problems]
    model.compile(optimizers.get(optimizer), losses.get(loss), metrics)
    return notes


def unsupported_arguments(layer_class, config):
    """Every problem (a list of strings; [] if none) that keeps a Keras layer's ``config`` from
    being built as ``layer_class`` (a scratchconv layer class): regularizers and
    constraints scratchconv lacks or on weights the layer does not have, activity_regularizer,
    lora_rank, quantization_config."""
    name, prefixes = layer_class.__name__, layer_class.WEIGHT_ARGS
    problems = []
    for key, value in config.items():
        if value is None:
            continue
        prefix, _, kind = key.rpartition("_")
        if key == "activity_regularizer":
            problems.append(f"{name}: activity_regularizer={_name(value)} is not supported (scratchconv "
                            f"regularizes weights only)")
        elif key in ("lora_rank", "lora_alpha", "quantization_config"):
            problems.append(f"{name}: {key}={value!r} is not supported")
        elif kind in ("regularizer", "constraint"):
            if prefix not in prefixes:
                problems.append(f"{name}: {key} names no weight of this layer (its weights: {list(prefixes)})")
                continue
            try:
                (get_regularizer if kind == "regularizer" else get_constraint)(value)
            except (TypeError, ValueError) as error:
                problems.append(f"{name}: {key}: {error}")  # "regularizer 'X' is not supported; scratchconv has [...]"
    return problems


def per_weight_keys(layer_class):
    """The per-weight argument names a layer class takes: kernel_regularizer, kernel_constraint, ..."""
    return tuple(f"{p}_{kind}" for p in layer_class.WEIGHT_ARGS for kind in ("regularizer", "constraint"))


def per_weight_config(layer):
    """{kernel_regularizer: Keras's serialised dict or None, ...} of a scratchconv layer, for its config."""
    config = {}
    for prefix in layer.WEIGHT_ARGS:
        for kind, table in (("regularizer", layer.regularizers), ("constraint", layer.constraints)):
            config[f"{prefix}_{kind}"] = table[prefix].get_config() if prefix in table else None
    return config


def keras_optimizer(keras, optimizer):
    """The Keras optimizer with our optimizer's settings (a schedule becomes Keras's schedule)."""
    config = dict(optimizer.get_config())
    return getattr(keras.optimizers, config.pop("name")).from_config(config)


def keras_loss(keras, loss):
    """The Keras loss object for our loss (from_logits carried)."""
    cls = {v: k for k, v in losses.KERAS_NAMES.items()}[loss.name]
    return getattr(keras.losses, cls)(from_logits=loss.takes_logits)
