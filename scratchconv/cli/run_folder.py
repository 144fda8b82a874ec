"""The run folder of ``scratchconv train``, the same for every data set (``--out``):

    checkpoint_best.npz   the epoch with the lowest val_loss (what ``scratchconv evaluate`` takes)
    checkpoint_last.npz   the state after the last finished epoch (what ``--resume`` continues)
    history.csv           loss, accuracy, val_loss, val_accuracy per epoch (rewritten every epoch)
    learning_curves.png   the learning curves (Fashion-MNIST: the article's plot, y from 0 to 1;
                          monkeys: accuracy and loss side by side)
    run.json              the settings (what ``--resume`` reads); at the end also the metrics of
                          the last model and of the best checkpoint, the epochs run, the seconds
                          per epoch and the history
    metrics.json          written once, at the end: the command that repeats the run, the loss and
                          accuracy of the last model and of the best checkpoint (and its epoch) on
                          the evaluation set ("test", or "validation" where there is no test set),
                          epochs run, training samples/s, seconds per epoch, parameter count

A training calls, in order: ``start_run`` (the settings: the new ones, or with ``--resume`` the
interrupted run's), then loads its data, ``initial_model`` or ``resumed_model``, and
``train_and_report``. Every file is written atomically.
"""

import json
import math
import os
import shlex
import sys
import time

import numpy as np

from .._atomic import write_atomically
from ..nn import callbacks as cb
from ..nn.loading import load_checkpoint

BEST, LAST, RUN, CURVES = "checkpoint_best.npz", "checkpoint_last.npz", "run.json", "learning_curves.png"
METRICS = "metrics.json"
# Options left out of the command a run folder records: they do not change what the run computes.
NOT_IN_COMMAND = ("resume", "verbose")


def add_run_arguments(parser):
    """The options every training takes: --init-from, --resume, --verbose."""
    parser.add_argument("--init-from", default=None, metavar="MODEL.keras",
                        help="start from the weights of a saved Keras model of the same network "
                             "(e.g. to compare with a Keras run from the same start)")
    parser.add_argument("--resume", action="store_true",
                        help=f"continue the run in --out from its {LAST}, exactly as if it had not stopped")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="1: progress bar (default), 2: one line per epoch, 0: quiet")


def positive(value, option):
    if value is not None and value < 1:
        raise SystemExit(f"error: {option} must be >= 1, got {value}")


def write_json(path, obj):
    write_atomically(path, lambda f: f.write(json.dumps(obj, indent=2) + "\n"), text=True)


def command_line(words, options):
    """The command that repeats a run from its start, every option spelled out, as one shell line.

    words: the subcommand (``["train", "monkeys"]``); options: ``{dest: value}`` in the order to
    write them; None and False are left out, True is a flag, a list is written ``32x32``.
    """
    parts = ["scratchconv", *words]
    for key, value in options.items():
        if value is None or value is False or key in NOT_IN_COMMAND:
            continue
        option = "--" + key.replace("_", "-")
        if value is True:
            parts.append(option)
        else:
            parts += [option, "x".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)]
    return shlex.join(parts)


class TrainingRate(cb.Callback):
    """Training samples per second of every epoch, the training batches only (as the progress bar's
    samples/s: the validation pass left out). Kept in the checkpoints, so a resumed run has every
    epoch's; it has no state before its first epoch, so a run started before it existed resumes."""

    def __init__(self, samples_per_epoch):
        self.samples_per_epoch = samples_per_epoch
        self.rates = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = self._end = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append(self.samples_per_epoch / max(self._end - self._start, 1e-9))

    def get_state(self):
        return {"rates": self.rates} if self.rates else {}

    def set_state(self, state):
        self.rates = list(state.get("rates", []))


def _best_epoch(val_loss):
    """The 1-based epoch ModelCheckpoint(save_best_only=True) kept: the first strictly lowest val_loss."""
    best, epoch = math.inf, None
    for k, value in enumerate(val_loss):
        if value < best:  # NaN is never better
            best, epoch = value, k + 1
    return epoch


def start_run(out, settings, resume):
    """The run's settings: ``settings`` for a new run; the interrupted run's (from its run.json) with resume."""
    if not resume:
        return settings
    if not os.path.exists(os.path.join(out, LAST)):
        raise SystemExit(f"error: --resume: no {LAST} in {out}; start the run without --resume")
    with open(os.path.join(out, RUN)) as f:
        settings = json.load(f)["settings"]
    print(f"resuming the run in {out} with its settings: {settings}")
    return settings


def initial_model(out, settings, build, optimizer, loss, check=None):
    """A new run's model: from ``settings['init_from']`` (a saved Keras model, which ``check(model)``
    may refuse) or ``build()``; its shuffling seeded from ``settings['seed']``; compiled. Then
    creates the run folder with run.json holding the settings."""
    if settings.get("init_from"):
        from ..nn.loading import from_keras

        try:
            model = from_keras(settings["init_from"])
        except (OSError, ValueError) as error:
            raise SystemExit(f"error: --init-from {settings['init_from']}: {error}") from None
        if check is not None:
            check(model)
        print(f"initial weights from {settings['init_from']}")
    else:
        model = build()
    model.rng = np.random.default_rng(settings["seed"])
    model.compile(optimizer, loss, ["accuracy"])
    os.makedirs(out, exist_ok=True)
    write_json(os.path.join(out, RUN), {"settings": settings})
    return model


def resumed_model(out, epochs):
    model = load_checkpoint(os.path.join(out, LAST))
    print(f"{model.epochs_done} epochs done; continuing to {epochs}")
    return model


def warn_slow_blas():
    """Says so on stderr when OPENBLAS_CORETYPE holds NumPy's products to kernels slower than the
    CPU's (``bench.env.blas_core_warning``): most of a training's time is those products."""
    from ..bench.env import blas_core_warning

    warning = blas_core_warning()
    if warning:
        print(f"note: {warning}", file=sys.stderr)
    return warning


def train_and_report(model, out, settings, *, fit_args, evaluate, split, plot, epochs, verbose, resume, samples,
                     command):
    """Fit with the article's callbacks (EarlyStopping(patience=5, min_delta=1e-3) and a best-only
    checkpoint on val_loss), the last-epoch checkpoint and history.csv; then draw the curves
    (``plot(history, path)``), evaluate the last model and the best checkpoint with
    ``evaluate(model) -> [loss, accuracy]`` on the ``split`` set, and write run.json and
    metrics.json. samples: training images per epoch; command: ``command_line(...)``'s."""
    model.summary()
    timer, rate = cb.EpochTimer(), TrainingRate(samples)
    callbacks = [cb.EarlyStopping(patience=5, min_delta=1e-3), timer, rate,
                 cb.CSVLogger(os.path.join(out, "history.csv")),
                 cb.ModelCheckpoint(os.path.join(out, BEST), save_best_only=True),
                 cb.ModelCheckpoint(os.path.join(out, LAST))]
    warn_slow_blas()
    history = model.fit(**fit_args, epochs=epochs, callbacks=callbacks, verbose=verbose, resume=resume)
    try:
        plot(history.history, os.path.join(out, CURVES))
    except ImportError as error:  # matplotlib/pandas are optional: pip install 'scratchconv[plot]'
        print(f"no {CURVES} ({error}); pip install 'scratchconv[plot]' for it")
    final = evaluate(model)
    best = evaluate(load_checkpoint(os.path.join(out, BEST)))
    steady = timer.seconds[1:] or timer.seconds  # the first epoch includes Numba's compilation
    report = {
        "settings": settings,
        split: {"last_model": {"loss": final[0], "accuracy": final[1]},
                "best_checkpoint": {"loss": best[0], "accuracy": best[1]}},
        "epochs_run": len(history.epoch), "epoch_seconds": timer.seconds,
        "seconds_per_epoch": float(np.mean(steady)),  # training and validation
        "history": history.history,
    }
    write_json(os.path.join(out, RUN), report)
    rates = rate.rates[1:] or rate.rates  # the first epoch includes Numba's compilation
    metrics = {
        "command": command,
        "split": split,
        "final_model": {"loss": final[0], "accuracy": final[1]},
        "best_checkpoint": {"file": BEST, "epoch": _best_epoch(history.history.get("val_loss", [])),
                            "loss": best[0], "accuracy": best[1]},
        "epochs_run": len(history.epoch), "stopped_early": len(history.epoch) < epochs,
        "training_samples": samples,
        "samples_per_s": float(np.mean(rates)),  # training batches only, first epoch left out
        "samples_per_s_per_epoch": rate.rates,
        "seconds_per_epoch": report["seconds_per_epoch"],
        "params": model.count_params(),
        "settings": settings,
    }
    write_json(os.path.join(out, METRICS), metrics)
    print(f"{split} loss {final[0]:.4f}, {split} accuracy {final[1]:.4f} (last model); best checkpoint: "
          f"{split} loss {best[0]:.4f}, {split} accuracy {best[1]:.4f}")
    print(f"{report['seconds_per_epoch']:.1f} s per epoch (training and validation), {metrics['samples_per_s']:.0f} "
          f"training samples/s (first epoch left out); run folder {out}, metrics in {METRICS}")
    return report
