"""Where ``fit``, ``evaluate`` and ``predict`` take their batches from: arrays, or a batch source.

Arrays ``(x, y)``: cut into batches of ``batch_size``, in a new order every epoch (drawn from
``model.rng``) when ``shuffle``, the last batch smaller (``ArrayBatches``).

A batch source makes the batches itself (``SourceBatches``), as Keras 3 takes them:

- a sequence, Keras's ``PyDataset`` protocol (``len(source)`` batches, ``source[i]`` batch i,
  optionally ``on_epoch_begin()``/``on_epoch_end()``), which Keras 2's ``ImageDataGenerator``
  iterators and scratchconv.data's follow: an epoch is ``source[0] ... source[steps - 1]``, then
  ``on_epoch_end()`` (which reshuffles, for those iterators);
- an iterator or generator (``next(source)``): an epoch is the next ``steps`` batches;
- another iterable (a ``tf.data.Dataset``, a list of batches): an epoch is a new pass over it.

``steps`` is ``steps_per_epoch`` (``validation_steps``, ``steps``) when given, else
``len(source)``. Each batch is ``(x, y)`` (or x alone, for predict) or ``(x, y, None)``; ``y``,
sample weights and ``batch_size`` do not apply to a source (it gives the targets and makes the
batches), and neither does ``shuffle``: a source shuffles itself. (Keras 3, given a ``PyDataset``
and ``shuffle=True``, also permutes the order of its batches with Python's global ``random``;
scratchconv does not, so that a run is reproducible: pass ``shuffle=False`` to Keras for the same
order.) Each batch is checked as arrays are (shape, dtype, finite values, targets) when it
comes; an error names the batch.

Resuming (``fit(..., resume=True)``): ``on_epoch_end()`` is called once for every epoch already
done, so a sequence whose order depends on how many epochs have passed (scratchconv.data's
iterators draw epoch e's order and transforms from ``(seed, e)``) gives the batches the run
that was not interrupted would have had.
"""

import numpy as np


def is_batch_source(x):
    """True for an object that makes batches (a sequence, an iterator, an iterable); False for array-likes."""
    if x is None or isinstance(x, (np.ndarray, np.generic, str, bytes, list, tuple, dict, int, float)):
        return False
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):  # a tensor, a DataFrame, ...
        return False
    return hasattr(x, "__iter__") or hasattr(x, "__next__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def _steps(source, steps, argument, steps_argument):
    if steps is not None:
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"{steps_argument} must be a positive integer, got {steps!r}")
        return int(steps)
    try:
        steps = len(source)
    except TypeError:
        raise ValueError(f"{argument} is a {type(source).__name__} without len(): pass {steps_argument}, "
                         f"the number of batches in one epoch") from None
    if steps < 1:
        raise ValueError(f"{argument} gives no batches (len() is {steps})")
    return int(steps)


def unpack_batch(batch):
    """(x, y) of one batch, as Keras's ``unpack_x_y_sample_weight``: (x,), (x, y), (x, y, None) or x."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        return batch, None
    if len(batch) == 3 and batch[2] is not None:
        raise ValueError("the batch source gave sample weights (x, y, sample_weight); scratchconv does not "
                         "implement them: give (x, y)")
    if not 1 <= len(batch) <= 3:
        raise ValueError(f"a batch must be (x,), (x, y) or (x, y, sample_weight), got a tuple of {len(batch)}")
    return batch[0], (batch[1] if len(batch) > 1 else None)


class ArrayBatches:
    """Batches of arrays already checked: x (N, ...) and targets (N, ...)."""

    def __init__(self, x, targets, batch_size, shuffle=False, rng=None):
        self.x, self.targets, self.batch_size = x, targets, batch_size
        self.shuffle, self.rng = shuffle, rng
        self.steps = -(-x.shape[0] // batch_size)

    def epoch(self):
        """Yields (x_batch, targets_batch) for one epoch, in a new order when shuffling."""
        n = self.x.shape[0]
        order = self.rng.permutation(n) if self.shuffle else None  # (n,)
        for step in range(self.steps):
            if order is None:
                part = slice(step * self.batch_size, (step + 1) * self.batch_size)
            else:
                part = order[step * self.batch_size : (step + 1) * self.batch_size]
            yield self.x[part], (None if self.targets is None else self.targets[part])

    def on_epoch_end(self):
        pass

    def fast_forward(self, epochs):
        pass  # the order comes from model.rng, whose state a checkpoint restores


class SourceBatches:
    """The batches of a source, checked one by one with ``check(x, y, where) -> (x, targets)``."""

    def __init__(self, source, steps, check, argument="x", steps_argument="steps_per_epoch"):
        self.source, self.check, self.argument = source, check, argument
        self.steps = _steps(source, steps, argument, steps_argument)
        # Keras's rule: whatever has len() and [i] is a sequence (scratchconv.data's iterators also have next())
        self.is_sequence = hasattr(source, "__getitem__") and hasattr(source, "__len__")
        if self.is_sequence and self.steps > len(source):
            raise ValueError(f"{steps_argument}={self.steps} is more than the {len(source)} batches {argument} has")
        self._iterator = source if hasattr(source, "__next__") else None

    def _batches(self):
        if self.is_sequence:
            return (self.source[i] for i in range(self.steps))
        iterator = self._iterator if self._iterator is not None else iter(self.source)
        return (next(iterator, StopIteration) for _ in range(self.steps))

    def epoch(self):
        """Yields (x_batch, targets_batch) for one epoch, each checked."""
        begin = getattr(self.source, "on_epoch_begin", None)
        if callable(begin):
            begin()
        for step, batch in enumerate(self._batches()):
            if batch is StopIteration:
                raise ValueError(f"{self.argument} ran out of batches after {step} of the {self.steps} in an "
                                 f"epoch: it must give at least steps per epoch x epochs batches")
            x, y = unpack_batch(batch)
            yield self.check(x, y, f"batch {step} of {self.argument}")

    def on_epoch_end(self):
        end = getattr(self.source, "on_epoch_end", None)
        if callable(end):
            end()

    def fast_forward(self, epochs):
        """As if ``epochs`` epochs had run: on_epoch_end() that many times (sequences only)."""
        if self.is_sequence:
            for _ in range(epochs):
                self.on_epoch_end()


def batches(model, x, y, batch_size, shuffle=False, steps=None, argument="x", y_argument="y",
            steps_argument="steps_per_epoch", finite=False, targets=True):
    """ArrayBatches or SourceBatches for (x, y); arrays are checked now, a source's batches as they come.

    targets=False (predict): y is not needed and a source's batches may be x alone.
    """
    if is_batch_source(x):
        if y is not None:
            raise ValueError(f"{y_argument} must not be given when {argument} is a batch source "
                             f"({type(x).__name__}): its batches are (x, y)")

        def check(xb, yb, where):
            if not targets:
                return model._inputs(xb, f"{where}'s x", finite), None
            return model._checked(xb, yb, f"{where}'s x", f"{where}'s y", finite)

        return SourceBatches(x, steps, check, argument, steps_argument)
    if targets:
        x, y = model._checked(x, y, argument, y_argument, finite)
    else:
        x = model._inputs(x, argument, finite)
    return ArrayBatches(x, y, batch_size, shuffle, model.rng)


def validation_batches(model, validation_data, batch_size, steps=None):
    """None, or the batches of ``validation_data``: a tuple (x_val, y_val) or a batch source."""
    if validation_data is None:
        return None
    if is_batch_source(validation_data):
        return batches(model, validation_data, None, batch_size, steps=steps, argument="validation_data",
                       steps_argument="validation_steps", finite=True)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
        raise TypeError("validation_data must be a tuple (x_val, y_val) or a batch source (an iterator of "
                        f"(x, y) batches), got {type(validation_data).__name__}")
    return batches(model, validation_data[0], validation_data[1], batch_size, argument="validation_data[0]",
                   y_argument="validation_data[1]", finite=True)
