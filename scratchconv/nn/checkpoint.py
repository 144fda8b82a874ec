"""Checkpoints (saving; ``loading.load_checkpoint`` reads them back): one ``.npz`` file that holds everything a run needs to continue exactly.

    model config (layers, input shape) and weights      -> rebuilds the network
    compile config (optimizer, loss, metrics)           -> recompiles it
    optimizer state (iterations, slot arrays)           -> the next step is the same step
    epochs done, RNG state, stop flag                   -> the next epoch shuffles the same way
    each layer's RNG state (Dropout, GaussianNoise, ...) -> the next epoch draws the same masks
    history and every callback's state                  -> EarlyStopping/ModelCheckpoint carry on

The nested state is stored as JSON (``__meta__``) in which every array is replaced by
``{"__array__": "a<k>"}``, the arrays themselves as npz entries; nothing is pickled, so
loading runs no code. The file is written to a temporary file in the same folder, then
renamed over the target (``os.replace``): a crash never leaves a half-written checkpoint.
"""

import json

import numpy as np

from .._atomic import write_atomically
from .config import model_config

FORMAT = "scratchconv-checkpoint"
VERSION = 1


def _split_arrays(tree, arrays):
    """The tree with each ndarray replaced by a reference; the arrays collected into ``arrays``."""
    if isinstance(tree, np.ndarray):
        key = f"a{len(arrays)}"
        arrays[key] = tree
        return {"__array__": key}
    if isinstance(tree, dict):
        return {k: _split_arrays(v, arrays) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [_split_arrays(v, arrays) for v in tree]
    if isinstance(tree, np.generic):
        return tree.item()
    return tree


def _join_arrays(tree, arrays):
    if isinstance(tree, dict):
        if set(tree) == {"__array__"}:
            return arrays[tree["__array__"]]
        return {k: _join_arrays(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_join_arrays(v, arrays) for v in tree]
    return tree


def write_state(path, state):
    """Writes a nested dict of JSON values and ndarrays to ``path`` atomically."""
    arrays = {}
    meta = _split_arrays(state, arrays)
    write_atomically(path, lambda f: np.savez(f, __meta__=np.array(json.dumps(meta)), **arrays))


def read_state(path):
    with np.load(path, allow_pickle=False) as data:
        if "__meta__" not in data:
            raise ValueError(f"{path} is not a scratchconv checkpoint (no __meta__ entry)")
        meta = json.loads(str(data["__meta__"]))
        arrays = {key: data[key] for key in data.files if key != "__meta__"}
    return _join_arrays(meta, arrays)


def layer_rng_state(layer):
    """The state of the layer's random generator (``layer.rng``: Dropout's masks, GaussianNoise's
    noise, an initializer's draws), or None when it has none."""
    rng = getattr(layer, "rng", None)
    return rng.bit_generator.state if isinstance(rng, np.random.Generator) else None


def generator_from_state(state):
    """A np.random.Generator in ``state`` (a ``bit_generator.state`` dict: PCG64, MT19937, ...)."""
    rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
    rng.bit_generator.state = state
    return rng


def save_checkpoint(model, path):
    """The model, its compile settings and (during or after fit) its training state, to ``path``."""
    state = {
        "format": FORMAT, "version": VERSION,
        "model": model_config(model),
        "weights": model.get_weights(),
        "compile": None if model.loss is None else {
            "optimizer": model.optimizer.get_config(), "loss": model.loss.get_config(), "metrics": model.metrics},
        "optimizer_state": None if model.optimizer is None else model.optimizer.get_state(),
        "rng": model.rng.bit_generator.state,
        "layer_rngs": [layer_rng_state(layer) for layer in model.layers],
        "training": {
            "epoch": model.epochs_done,
            "stop_training": bool(model.stop_training),
            "history": model.history.get_state() if model.history else {"history": {}, "epoch": []},
            "callbacks": [[type(cb).__name__, cb.get_state()] for cb in getattr(model, "_callbacks", [])[1:]],
        },
    }
    write_state(path, state)
