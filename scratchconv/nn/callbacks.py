"""Callbacks with Keras's names and rules: History, EarlyStopping, ModelCheckpoint, CSVLogger.

``fit`` calls, in this order: History first, then the other callbacks, then every
ModelCheckpoint, so that a checkpoint saves the state of all the others after they have
seen the epoch. Each callback's ``get_state()``/``set_state()`` is what a checkpoint keeps
of it, so that a resumed run continues as if it had not stopped.
"""

import csv
import os
import time

from .._atomic import write_atomically


class Callback:
    model = None

    def set_model(self, model):
        self.model = model

    def check(self, log_keys):
        """Called by fit before any work, with the names of the values it will log."""

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def get_state(self):
        return {}

    def set_state(self, state):
        pass


class History(Callback):
    """``history.history``: a dict of lists, one value per epoch (loss, accuracy, val_loss, val_accuracy).

    On a resumed run it starts from the checkpoint's history, so it covers every epoch.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)

    def get_state(self):
        return {"history": self.history, "epoch": self.epoch}

    def set_state(self, state):
        self.history = {k: list(v) for k, v in state["history"].items()}
        self.epoch = list(state["epoch"])


class _Monitor(Callback):
    """Keras's MonitorCallback: compares the monitored value with the best one seen so far."""

    def __init__(self, monitor, mode, min_delta):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        if mode == "auto":
            mode = "max" if monitor.removeprefix("val_") in ("accuracy", "acc") else "min"
        self.mode = mode
        self.min_delta = abs(float(min_delta))
        self.best = None

    def is_improvement(self, value):
        """value + min_delta < best ('min') or value - min_delta > best ('max'); the first value always is."""
        if self.best is None:
            return True
        if self.mode == "min":
            return value + self.min_delta < self.best
        return value - self.min_delta > self.best

    def check(self, log_keys):
        """Called by fit before any work: the monitored value must be one that fit logs."""
        if self.monitor not in log_keys:
            raise ValueError(f"{type(self).__name__} monitors {self.monitor!r}, which this fit does not log "
                             f"(it logs {sorted(log_keys)}); pass validation_data or change monitor")

    def current(self, logs):
        return float(logs[self.monitor])


class EarlyStopping(_Monitor):
    """Stop when ``monitor`` has not improved by more than min_delta for ``patience`` epochs (Keras's rule).

    With restore_best_weights, the weights of the best epoch are put back when training ends.
    """

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto", restore_best_weights=False):
        super().__init__(monitor, mode, min_delta)
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.on_train_begin()

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.current(logs)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.is_improvement(current):
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def get_state(self):
        return {"wait": self.wait, "stopped_epoch": self.stopped_epoch, "best": self.best,
                "best_epoch": self.best_epoch, "best_weights": self.best_weights}

    def set_state(self, state):
        self.wait, self.stopped_epoch, self.best = state["wait"], state["stopped_epoch"], state["best"]
        self.best_epoch, self.best_weights = state["best_epoch"], state["best_weights"]


class ModelCheckpoint(_Monitor):
    """Save the model after each epoch (or only when ``monitor`` improves, with save_best_only).

    The file is a full checkpoint (see ``scratchconv.nn.checkpoint``): weights, optimizer state,
    epoch, RNG state, history and the callbacks' states, written atomically.
    """

    def __init__(self, filepath, monitor="val_loss", save_best_only=False, mode="auto", verbose=0):
        super().__init__(monitor, mode, 0.0)
        self.filepath = os.fspath(filepath)
        self.save_best_only = bool(save_best_only)
        self.verbose = verbose

    def check(self, log_keys):
        if self.save_best_only:  # otherwise nothing is monitored
            super().check(log_keys)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_best_only:
            current = self.current(logs)
            if not self.is_improvement(current):
                return
            if self.verbose:
                print(f"Epoch {epoch + 1}: {self.monitor} improved to {current:.5f}, saving to {self.filepath}")
            self.best = current
        self.model.save(self.filepath)

    def get_state(self):
        return {"best": self.best}

    def set_state(self, state):
        self.best = state["best"]


class EpochTimer(Callback):
    """Wall time of every epoch (training and validation), kept in checkpoints like the history."""

    def __init__(self):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)

    def get_state(self):
        return {"seconds": self.seconds}

    def set_state(self, state):
        self.seconds = list(state["seconds"])


class CSVLogger(Callback):
    """Rewrites ``filename`` (atomically) with the whole history after every epoch."""

    def __init__(self, filename):
        self.filename = os.fspath(filename)

    def on_epoch_end(self, epoch, logs=None):
        history = self.model.history
        write_history_csv(self.filename, history.epoch, history.history)


def write_history_csv(path, epochs, history):
    """epoch,<key>,... one row per epoch, written atomically."""
    keys = list(history)

    def write(f):
        writer = csv.writer(f)
        writer.writerow(["epoch", *keys])
        for row, epoch in enumerate(epochs):
            writer.writerow([epoch, *(repr(float(history[k][row])) for k in keys)])

    write_atomically(path, write, text=True)
