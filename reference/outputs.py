"""The run folder: best checkpoint, history CSV, learning curves, metrics JSON, training loop.

Every file is written atomically: to a temporary file in the same folder, then ``os.replace``,
so a crash (or Ctrl-C) never leaves a half-written checkpoint, CSV, PNG or JSON behind; the
previous version stays until the new one is complete.

    run folder/
        best_model.keras   the epoch with the lowest val_loss (Keras's ModelCheckpoint, best only)
        logs/              TensorBoard (train/ and validation/)
        history.csv        one row per epoch: loss, accuracy, val_loss, val_accuracy, epoch_seconds
        *.png              learning curves, as the article plots them
        metrics.json       final evaluation (last model and best checkpoint), run settings, versions
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from reference.runtime import keras
from scratchconv._atomic import replace_atomically, write_bytes_atomically

CHECKPOINT = "best_model.keras"
HISTORY = "history.csv"
METRICS = "metrics.json"
LOGS = "logs"


def save_model_atomically(model, path) -> None:
    """``model.save(path)`` (Keras 3 ``.keras`` format) without ever exposing a partial file."""
    replace_atomically(path, model.save, suffix=".keras")  # Keras insists on the .keras extension


class BestCheckpoint(keras.callbacks.Callback):
    """``ModelCheckpoint(path, save_best_only=True)`` (monitor val_loss, mode min), written atomically.

    Like Keras's: saves at the end of an epoch when ``val_loss < best`` (strictly; NaN never
    counts as better). ``best`` and ``best_epoch`` (1-based) say which epoch is on disk.
    """

    def __init__(self, path, monitor: str = "val_loss"):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.best, self.best_epoch = math.inf, None

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise KeyError(f"BestCheckpoint: '{self.monitor}' is not in the epoch's logs {sorted(logs or {})}")
        if current < self.best:
            print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {self.best:.5f} to {current:.5f}, "
                  f"saving {self.path}")
            self.best, self.best_epoch = float(current), epoch + 1
            save_model_atomically(self.model, self.path)


class HistoryCSV(keras.callbacks.Callback):
    """Rewrites ``history.csv`` (atomically) at the end of every epoch, with the epoch's wall time.

    A run that stops early still leaves the history of the epochs it finished. ``rows`` holds the
    same numbers in memory: one dict per epoch with ``epoch`` (1-based), Keras's logs, ``epoch_seconds``.
    """

    def __init__(self, path):
        super().__init__()
        self.path, self.rows, self._start = Path(path), [], None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["epoch_seconds"] = time.perf_counter() - self._start
        self.rows.append(row)
        columns = list(dict.fromkeys(key for r in self.rows for key in r))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_bytes_atomically(self.path, text.getvalue().encode())


def plot_curves(rows, path, columns, ylim, xmax=None, title=None) -> None:
    """The article's learning curves: ``columns`` of the history against the epoch index, one PNG.

    x is the epoch index 0..n-1 (as ``pd.DataFrame(history.history).plot()`` draws it), y is
    limited to ``ylim``; ``xmax`` fixes the x range to [0, xmax] (``plt.axis([0, epochs, lo, hi])``).
    """
    import pandas as pd

    frame = pd.DataFrame([{c: r[c] for c in columns} for r in rows])  # (epochs, len(columns))
    figure = Figure(figsize=(8, 5), dpi=80)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    frame.plot(ax=ax)
    ax.grid(True)
    ax.set_ylim(*ylim)
    if xmax is not None:
        ax.set_xlim(0, xmax)
    ax.set_xlabel("epoch (0-based)")
    if title:
        ax.set_title(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_bytes_atomically(path, buffer.getvalue())


def write_json(path, obj) -> None:
    write_bytes_atomically(path, (json.dumps(obj, indent=2) + "\n").encode())


def train_and_report(model, out_dir, *, fit_args, evaluate_args, split, epochs, batch_size, verbose,
                     plots, run_info):
    """Fit with the article's callbacks, then write the curves and ``metrics.json``; return the metrics.

    Callbacks: TensorBoard(logs/), the best-only checkpoint, EarlyStopping(patience=5,
    min_delta=1e-3) on val_loss (the article's settings), the history CSV.
    ``fit_args``/``evaluate_args`` are passed to ``model.fit``/``evaluate`` (data, batch size);
    ``split`` names the evaluation data ('test', 'validation'); ``plots`` is a list of
    ``(file name, columns, ylim, xmax, title)``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = BestCheckpoint(out_dir / CHECKPOINT)
    history = HistoryCSV(out_dir / HISTORY)
    early_stopping = keras.callbacks.EarlyStopping(patience=5, min_delta=1e-3)
    callbacks = [keras.callbacks.TensorBoard(str(out_dir / LOGS)), checkpoint, early_stopping, history]
    model.fit(**fit_args, epochs=epochs, callbacks=callbacks, verbose=verbose)

    for name, columns, ylim, xmax, title in plots:
        plot_curves(history.rows, out_dir / name, columns, ylim, xmax, title)
    final = model.evaluate(**evaluate_args, verbose=0, return_dict=True)
    best_model = keras.models.load_model(out_dir / CHECKPOINT)
    best = best_model.evaluate(**evaluate_args, verbose=0, return_dict=True)
    seconds = [row["epoch_seconds"] for row in history.rows]
    metrics = {
        "split": split,
        "final_model": {"loss": float(final["loss"]), "accuracy": float(final["accuracy"])},
        "best_checkpoint": {"file": CHECKPOINT, "epoch": checkpoint.best_epoch,
                            "val_loss": checkpoint.best,
                            "loss": float(best["loss"]), "accuracy": float(best["accuracy"])},
        "epochs_run": len(history.rows),
        "stopped_early": len(history.rows) < epochs,
        "epoch_seconds": seconds,
        # the first epoch includes tracing/compilation; the steady pace is the mean of the others
        "seconds_per_epoch": sum(seconds[1:]) / (len(seconds) - 1) if len(seconds) > 1 else seconds[0],
        "batch_size": batch_size,
        "params": int(model.count_params()),
        **run_info,
    }
    write_json(out_dir / METRICS, metrics)
    print(f"\n{split} loss {metrics['final_model']['loss']:.4f}, {split} accuracy "
          f"{metrics['final_model']['accuracy']:.4f} (last model); best checkpoint (epoch "
          f"{checkpoint.best_epoch}): {split} loss {metrics['best_checkpoint']['loss']:.4f}, accuracy "
          f"{metrics['best_checkpoint']['accuracy']:.4f}")
    print(f"{metrics['seconds_per_epoch']:.1f} s per epoch; run folder {out_dir}")
    print(json.dumps({k: metrics[k] for k in ("split", "final_model", "best_checkpoint")}))
    return metrics
