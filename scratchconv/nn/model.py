"""Sequential: a stack of scratchconv layers trained like a Keras model.

    model = Sequential([Conv2D(32, 3, padding="same", activation="selu", input_shape=(28, 28, 1)), ...])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, validation_data=(x_val, y_val), callbacks=[...])
    history = model.fit(train_iterator, validation_data=valid_iterator)   # (x, y) batches, see batch_sources
    loss, accuracy = model.evaluate(x_test, y_test)

One training step on a batch (x, t):

    forward:   a_0 = x,  a_l = layer_l.forward(a_{l-1}),  p = a_L
    loss:      L = mean_i loss(t_i, p_i) (softmax last: from its logits; from_logits=True: p are logits)
               + the weight regularizers' penalties (their gradients added, as Keras)
    backward:  d_L = dL/dp (or dL/dz when fused),  d_{l-1} = layer_l.backward(d_l)
    update:    optimizer.apply(trainable weights, their gradients), then each weight constraint
"""

import re

import numpy as np

from ..layers.base import Layer
from . import batch_sources, checks, fusion, losses, memory, optimizers
from .config import layer_from_config
from .callbacks import Callback, History, ModelCheckpoint
from .progress import ProgressBar, format_logs

ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")
KERAS_NAMES = {"MaxPool2D": "max_pooling2d"}


def keras_style_name(layer):
    """Keras's default layer name: the class name in snake_case (SeparableConv2D -> separable_conv2d)."""
    cls = type(layer).__name__
    return KERAS_NAMES.get(cls) or re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", cls).lower()


class Sequential:
    def __init__(self, layers=None, name="sequential", seed=None):
        self.name = name
        self.layers = []
        self.rng = np.random.default_rng(seed)  # shuffles the samples each epoch
        self.optimizer = self.loss = None
        self.metrics = []
        self.stop_training = False
        self.history = None
        self.resume_state = None  # set by scratchconv.nn.load_checkpoint
        self._fused = {}  # what the last forward fused (nn.fusion.forward)
        self.epochs_done = 0
        self.built = False
        for layer in layers or []:
            self.add(layer)

    # --------------------------------------------------------------------------- structure
    def add(self, layer):
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential takes scratchconv layers, got {type(layer).__name__}")
        if layer.name == type(layer).__name__.lower():  # the base class's default: give Keras's
            base = keras_style_name(layer)
            taken = {other.name for other in self.layers}
            layer.name = base if base not in taken else next(
                f"{base}_{k}" for k in range(1, len(taken) + 2) if f"{base}_{k}" not in taken)
        self.layers.append(layer)
        self.built = False
        if self.layers[0].input_shape is not None:  # like Keras: a model with a known input is built
            self.build()

    def build(self, input_shape=None):
        """Builds every layer in turn; input_shape (None, ...) defaults to the first layer's input_shape."""
        if not self.layers:
            raise ValueError("the model has no layers")
        input_shape = input_shape or self.layers[0].input_shape
        if input_shape is None:
            raise ValueError("the model's input shape is unknown: give the first layer input_shape=(...), "
                             "call build((None, ...)) or fit/predict on data")
        shape = (None, *tuple(input_shape)[1:])
        self.input_shape, self.output_shapes = shape, []
        for layer in self.layers:
            if not layer.built:
                layer.build(shape)
            shape = layer.compute_output_shape(shape)
            self.output_shapes.append(shape)
        dtypes = {layer.dtype for layer in self.layers}
        if len(dtypes) != 1:
            raise ValueError(f"all layers must share one dtype, got {sorted(map(str, dtypes))}")
        self.dtype = dtypes.pop()
        self.built = True

    def _ensure_built(self, x_shape=None):
        if not self.built:
            has_shape = self.layers and self.layers[0].input_shape is not None
            self.build(None if has_shape or x_shape is None else (None, *x_shape[1:]))

    @property
    def output_shape(self):
        return self.output_shapes[-1]

    @property
    def weights(self):
        return [w for layer in self.layers for w in layer.weights]

    @property
    def gradients(self):
        """The gradients of the trainable weights after the last backward, in their order."""
        return [g for layer in self.layers for g in layer.trainable_gradients]

    @property
    def trainable_weights(self):
        """The weights the optimizer updates (Keras's model.trainable_weights, same order)."""
        return [w for layer in self.layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for layer in self.layers for w in layer.non_trainable_weights]

    def get_weights(self):
        """Every layer's get_weights(), concatenated: the same list as Keras's model.get_weights()."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        weights = list(weights)
        if len(weights) != len(self.weights):
            raise ValueError(f"the model has {len(self.weights)} weight arrays, got {len(weights)}")
        start = 0
        for layer in self.layers:
            layer.set_weights(weights[start : start + len(layer.weights)])
            start += len(layer.weights)

    def count_params(self):
        return int(sum(w.size for w in self.weights))

    def summary(self, print_fn=print):
        from .summary import format_summary

        self._ensure_built()
        print_fn(format_summary(self))

    # --------------------------------------------------------------------------- compile
    def compile(self, optimizer, loss, metrics=None):
        """optimizer: a name ('sgd', 'adam', 'adamw', 'rmsprop'), a config, a Keras optimizer or an Optimizer;
        loss: Keras's name, a config, a Keras loss or a Loss; metrics: e.g. ['accuracy']."""
        self.optimizer, self.loss, self.metrics = optimizers.get(optimizer), losses.get(loss), list(metrics or [])
        for metric in self.metrics:
            if metric not in ACCURACY_NAMES:
                raise ValueError(f"metrics may hold {list(ACCURACY_NAMES)}, got {metric!r}")

    def _require_compiled(self, what):
        if self.loss is None:
            raise ValueError(f"call compile(optimizer, loss, metrics) before {what}")

    # --------------------------------------------------------------------------- passes
    def forward(self, x, training=False):
        """The last layer's output. Some neighbours run as one (``fusion``): a BatchNormalization
        and the ReLU after it; a ZeroPadding2D and the 'valid' DepthwiseConv2D it pads as 'same' would."""
        x, self._fused = fusion.forward(self.layers, x, training)
        return x

    __call__ = forward

    def _fused_softmax(self):
        """Softmax last: the loss is taken from its logits (whatever from_logits says, as Keras)."""
        last = self.layers[-1]
        return getattr(last, "activation", None) == "softmax" and hasattr(last, "backward_preactivation")

    def forward_backward(self, x, targets):
        """Forward and backward on one batch; fills every layer's gradients (dL/dw of the mean loss).

        Returns (probabilities p (N, classes), per-sample losses (N,)). targets: as
        ``self.loss.check_targets`` returns them. Neighbouring layers that share a pass (a
        BatchNormalization and its ReLU; a ZeroPadding2D and a DepthwiseConv2D; a convolution
        ending in relu/selu and a MaxPool2D or convolution after it) run fused, forward and
        backward: see ``fusion``.
        """
        p = self.forward(x, training=True)  # (N, classes)
        last = self.layers[-1]
        if self._fused_softmax():
            sample_losses, d = self.loss.from_logits(last.preactivation, targets)  # d = dL/dz (N, classes)
            d = last.backward_preactivation(d)
        else:
            sample_losses, d = self.loss.from_outputs(p, targets)  # d = dL/dp (N, classes)
            d = last.backward(d)
        fusion.backward(self.layers, d, self._fused)
        return p, sample_losses

    def gradients_on_batch(self, x, y):
        """(mean loss, [dL/dw for every trainable weight, in order]) on one batch; no update.

        The same numbers ``tf.GradientTape`` gives for the Keras model holding the same weights, on
        ``model.compute_loss`` (the loss plus the regularizers' penalties, if any).
        """
        self._require_compiled("gradients_on_batch")
        x, targets = self._checked(x, y)
        _, sample_losses = self.forward_backward(x, targets)
        penalty = sum(layer.regularization() for layer in self.layers)  # their gradients added too
        return float(sample_losses.mean(dtype=np.float64)) + penalty, [g.copy() for g in self.gradients]

    def train_step(self, x, targets):
        """One optimizer step on one batch; returns (N * batch loss, per-sample correctness). As Keras:
        batch loss = mean loss + the regularizers' penalty (before the step); constraints after it."""
        p, sample_losses = self.forward_backward(x, targets)
        penalty = sum(layer.regularization() for layer in self.layers)  # their gradients added too
        self.optimizer.apply(self.trainable_weights, self.gradients)
        for layer in self.layers:
            layer.apply_constraints()
        return float(sample_losses.sum(dtype=np.float64)) + penalty * len(x), self.loss.accuracy(targets, p)

    def test_step(self, x, targets):
        p = self.forward(x)
        if self._fused_softmax():
            sample_losses = self.loss.from_logits(self.layers[-1].preactivation, targets)[0]
        else:
            sample_losses = self.loss.from_outputs(p, targets)[0]
        penalty = sum(layer.regularization(gradients=False) for layer in self.layers)  # Keras's evaluate too
        return float(sample_losses.sum(dtype=np.float64)) + penalty * len(x), self.loss.accuracy(targets, p)

    def _logs(self, loss_sum, correct, n, prefix=""):
        logs = {f"{prefix}{metric}": correct / n for metric in self.metrics}
        logs[f"{prefix}loss"] = loss_sum / n
        return logs

    # --------------------------------------------------------------------------- fit / evaluate / predict
    def _inputs(self, x, argument="x", finite=False):
        """x checked and cast to the model's dtype; builds the model from x's shape if needed."""
        if not self.layers:
            raise ValueError("the model has no layers")
        x = checks.check_inputs(x, self.input_shape if self.built else self.layers[0].input_shape,
                                self.layers[0].dtype, argument, finite)
        self._ensure_built(x.shape)
        return x

    def _checked(self, x, y, argument="x", y_argument="y", finite=False):
        """(x cast to the model's dtype, checked targets)."""
        x = self._inputs(x, argument, finite)
        if y is None:
            raise TypeError(f"{y_argument} is required: the targets for {argument}")
        if np.shape(y)[:1] != x.shape[:1]:
            raise ValueError(f"{argument} has {x.shape[0]} samples but {y_argument} has "
                             f"{np.shape(y)[0] if np.ndim(y) else 'no'} entries; they must match")
        n_classes = self.output_shape[-1]
        return x, self.loss.check_targets(y, x.shape[0], n_classes, y_argument)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_data=None, shuffle=True, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            resume=False):
        """Trains for ``epochs`` epochs (counted from 0, like Keras) and returns a History.

        x: an array (with targets y), or a batch source giving (x, y) batches: a Keras
        ``PyDataset``-like sequence (scratchconv.data's and Keras 2's image iterators), an iterator
        or an iterable; validation_data: (x_val, y_val) or a batch source. See ``batch_sources``.
        resume=True continues a run loaded with ``scratchconv.nn.load_checkpoint``: its epoch,
        history, callback states, optimizer state and RNG state, exactly as if it had not stopped.
        """
        self._require_compiled("fit")  # every check before any work (a source's batches: as they come)
        batch_size = checks.check_positive_int(32 if batch_size is None else batch_size, "batch_size")
        train = batch_sources.batches(self, x, y, batch_size, shuffle, steps_per_epoch, finite=True)
        validation = batch_sources.validation_batches(self, validation_data, batch_size, validation_steps)
        epochs = checks.check_positive_int(epochs, "epochs", 0)
        initial_epoch = checks.check_positive_int(initial_epoch, "initial_epoch", 0)
        verbose = checks.check_verbose(verbose)
        callbacks = list(callbacks or [])
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be scratchconv.nn.callbacks.Callback objects, got {cb!r}")
        log_keys = set(self._logs(0, 0, 1)) | (set(self._logs(0, 0, 1, "val_")) if validation else set())
        for cb in callbacks:
            cb.check(log_keys)
        memory.keep_freed_memory()  # reuse the previous step's arrays instead of faulting in fresh pages
        history = History()
        ordered = [history] + [c for c in callbacks if not isinstance(c, ModelCheckpoint)] + [
            c for c in callbacks if isinstance(c, ModelCheckpoint)]  # checkpoints save the others' state
        self.history, self._callbacks = history, ordered
        for cb in ordered:
            cb.set_model(self)
        if resume:
            initial_epoch = self._resume_into(history, callbacks)
            for source in filter(None, (train, validation)):  # a sequence's on_epoch_end() per epoch done
                source.fast_forward(initial_epoch)
        else:
            self.stop_training = False
            for cb in ordered:
                cb.on_train_begin()
        # --- train
        for epoch in range(initial_epoch, epochs):
            if self.stop_training:
                break
            for cb in ordered:
                cb.on_epoch_begin(epoch)
            bar = ProgressBar(train.steps, verbose, title=f"Epoch {epoch + 1}/{epochs}" if verbose else None)
            loss_sum, correct, seen = 0.0, 0, 0
            for step, (x_batch, targets_batch) in enumerate(train.epoch()):
                batch_loss, batch_correct = self.train_step(x_batch, targets_batch)
                loss_sum, correct, seen = loss_sum + batch_loss, correct + int(batch_correct.sum()), seen + len(x_batch)
                logs = self._logs(loss_sum, correct, seen)
                bar.update(step + 1, seen, logs)
                for cb in ordered:
                    cb.on_train_batch_end(step, logs)
            train.on_epoch_end()
            if validation is not None:
                logs.update(self._evaluate_batches(validation, "val_"))
            bar.finish(train.steps, seen, logs)
            self.epochs_done = epoch + 1
            for cb in ordered:
                cb.on_epoch_end(epoch, logs)
        for cb in ordered[1:]:
            cb.on_train_end()
        self.resume_state = None
        return history

    def _resume_into(self, history, callbacks):
        """Restores History and the callbacks from self.resume_state; returns the epoch to start at.

        The k-th callback of a class gets the k-th saved state of that class. A stateful callback
        of the interrupted run must be there again (and a new one cannot join): their decisions
        depend on what they saw before the interruption.
        """
        state = self.resume_state
        if state is None:
            raise ValueError("resume=True needs a model loaded with scratchconv.nn.load_checkpoint(path)")
        saved = [(name, cb_state) for name, cb_state in state["callbacks"]]
        for cb in callbacks:
            cb.on_train_begin()
            k = next((i for i, (name, _) in enumerate(saved) if name == type(cb).__name__), None)
            if k is not None:
                cb.set_state(saved.pop(k)[1])
            elif cb.get_state():
                raise ValueError(f"resume: the interrupted run had no {type(cb).__name__}; a resumed run "
                                 f"takes the callbacks it had")
        missing = [name for name, cb_state in saved if cb_state]
        if missing:
            raise ValueError(f"resume: the interrupted run also had {missing}; pass them again")
        history.set_state(state["history"])
        self.stop_training, self.epochs_done = state["stop_training"], state["epoch"]
        return state["epoch"]

    def _evaluate_batches(self, batches, prefix=""):
        """The logs (loss, metrics) over one pass of ``batches`` (ArrayBatches or SourceBatches)."""
        loss_sum, correct, seen = 0.0, 0, 0
        for x_batch, targets_batch in batches.epoch():
            batch_loss, batch_correct = self.test_step(x_batch, targets_batch)
            loss_sum, correct, seen = loss_sum + batch_loss, correct + int(batch_correct.sum()), seen + len(x_batch)
        batches.on_epoch_end()
        return self._logs(loss_sum, correct, seen, prefix)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", steps=None):
        """[loss, metric...] on (x, y) or on a batch source's (x, y) batches, as Keras's evaluate returns them."""
        self._require_compiled("evaluate")
        batch_size = checks.check_positive_int(32 if batch_size is None else batch_size, "batch_size")
        batches = batch_sources.batches(self, x, y, batch_size, steps=steps, steps_argument="steps")
        verbose = checks.check_verbose(verbose)
        logs = self._evaluate_batches(batches)
        if verbose:
            print(f"{batches.steps} steps{format_logs(logs)}")
        return [logs["loss"], *(logs[m] for m in self.metrics)]

    def predict(self, x, batch_size=None, verbose="auto", steps=None):
        """The outputs batch by batch, concatenated: x (N, ...) or a batch source's x -> (N, *output_shape[1:])."""
        batch_size = checks.check_positive_int(32 if batch_size is None else batch_size, "batch_size")
        batches = batch_sources.batches(self, x, None, batch_size, steps=steps, steps_argument="steps",
                                        targets=False)
        verbose = checks.check_verbose(verbose)
        bar = ProgressBar(batches.steps, verbose)
        outputs = []
        for step, (x_batch, _) in enumerate(batches.epoch()):
            outputs.append(self.forward(x_batch))
            bar.update(step + 1, sum(map(len, outputs)), {})
        batches.on_epoch_end()
        bar.finish(batches.steps, sum(map(len, outputs)), {})
        return np.concatenate(outputs)  # (N, ...)

    # --------------------------------------------------------------------------- saving and Keras
    @classmethod
    def from_config(cls, config):
        """A built (not compiled) Sequential from ``config.model_config``'s dict; weights freshly initialised."""
        model = cls([layer_from_config(entry) for entry in config["layers"]], name=config["name"])
        model.build(tuple(config["input_shape"]))
        return model

    def save(self, path):
        """Writes a full checkpoint (atomically); see scratchconv.nn.checkpoint."""
        from .checkpoint import save_checkpoint

        save_checkpoint(self, path)

    def to_keras(self):
        """The same network as a Keras model, holding the same weights (compiled if this one is)."""
        from .keras_io import to_keras

        return to_keras(self)
