"""A Keras-like progress bar: one line per epoch, with loss, accuracy, samples/s and ETA.

samples/s and ms/step count the training batches only; the time after the bar (41s below) is
the whole epoch, validation included.

    Epoch 3/10
    1719/1719 [==============================] 41s 24ms/step - 1342 samples/s - accuracy: 0.8123 - loss: 0.5123 - val_accuracy: 0.8402 - val_loss: 0.4410

verbose=1: the line is redrawn in place (at most every 0.1 s) while the epoch runs, on a
terminal; written once at the end of the epoch otherwise (a log file gets no carriage
returns). verbose=2: the final line only. verbose=0: nothing.
"""

import sys
import time

WIDTH = 30


def _format_time(seconds):
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if seconds >= 60:
        return f"{seconds // 60}:{seconds % 60:02d}"
    return f"{seconds}s"


def format_logs(logs):
    return "".join(f" - {key}: {value:.4f}" for key, value in logs.items())


class ProgressBar:
    def __init__(self, steps, verbose=1, stream=None, title=None):
        self.steps = steps
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()
        self.start = time.perf_counter()
        self.last_draw = 0.0
        self.train_seconds = 0.0  # until the last batch's update
        if title and verbose:
            print(title, file=self.stream, flush=True)

    def _line(self, step, samples, logs, final):
        elapsed = time.perf_counter() - self.start
        filled = WIDTH * step // max(self.steps, 1)
        bar = "=" * filled + (">" if filled < WIDTH else "") + "." * (WIDTH - filled - 1)
        rate = samples / self.train_seconds if self.train_seconds > 0 else 0.0  # training only, not validation
        if final:
            timing = f"{_format_time(elapsed)} {1000 * self.train_seconds / max(step, 1):.0f}ms/step"
        else:
            timing = f"ETA: {_format_time(elapsed / max(step, 1) * (self.steps - step))}"
        return f"{step}/{self.steps} [{bar[:WIDTH]}] {timing} - {rate:.0f} samples/s{format_logs(logs)}"

    def update(self, step, samples, logs):
        """After each batch: redraws the line when live and 0.1 s have passed since the last draw."""
        now = time.perf_counter()
        self.train_seconds = now - self.start
        if not self.live:
            return
        if now - self.last_draw >= 0.1:
            self.last_draw = now
            self.stream.write("\r" + self._line(step, samples, logs, final=False) + "\033[K")
            self.stream.flush()

    def finish(self, step, samples, logs):
        if not self.verbose:
            return
        prefix = "\r" if self.live else ""
        self.stream.write(prefix + self._line(step, samples, logs, final=True) + ("\033[K" if self.live else "") + "\n")
        self.stream.flush()
