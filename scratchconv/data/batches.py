"""Batch iterators, as Keras's legacy ``Iterator``, with the next batch prepared in the background.

``BatchIterator`` gives batches of ``batch_size`` samples in epoch order (the last one smaller),
reshuffled every epoch when ``shuffle``, forever: ``next(it)``. ``len(it)`` is the number of
batches per epoch, ``it[i]`` batch i of the current epoch (as Keras's ``PyDataset``), and
``it.on_epoch_end()`` moves ``it[i]`` to the next epoch.

Randomness, without NumPy's global state: epoch e's order comes from
``default_rng([base, e])`` and batch b's transforms from ``default_rng([base, e, b])``, where
``base`` is ``seed`` (or drawn from the OS when seed is None). So a batch does not depend on how
far ahead the background thread got, and ``it[b]`` equals the b-th ``next(it)`` of that epoch.
Keras seeds its global RNG with ``seed + batches seen`` for the same purpose; the distributions
are Keras's, the values are not.

The background thread: ``next(it)`` starts it on the first call; it builds batches in order into
a queue of ``prefetch`` batches (so one is ready while the consumer trains on another), and the
augmentation kernels release the GIL. An exception inside it is handed to the consumer, raised by
the ``next(it)`` that would have returned that batch (and by every later one), and stops the
thread. ``it.close()`` (or leaving a ``with`` block, or dropping the iterator) stops it too.
"""

import math
import queue
import threading
import weakref
from functools import lru_cache

import numpy as np

from .augment_args import check_images

POLL_SECONDS = 0.05  # how often a blocked thread or consumer checks whether it should stop


@lru_cache(maxsize=8)
def _epoch_order(base, epoch, n, shuffle):
    """The sample indices of one epoch: (n,) int64, shuffled from (base, epoch) when ``shuffle``."""
    order = np.random.default_rng([base, epoch]).permutation(n) if shuffle else np.arange(n)  # (n,)
    order.setflags(write=False)  # shared between the thread and __getitem__
    return order


def background_thread_is_safe():
    """False under Numba's 'workqueue' threading layer, which aborts the process when two threads
    run parallel kernels at once (training in one, augmenting in the other); then batches are
    built in the consumer's thread instead. 'omp' and 'tbb' (the usual layers) are thread-safe."""
    import numba

    from .warp import warm_up

    warm_up()  # Numba chooses its threading layer at the first parallel call
    try:
        return numba.threading_layer() != "workqueue"
    except ValueError:  # NUMBA_DISABLE_JIT: no parallel layer at all
        return True


class _Failure:
    def __init__(self, error):
        self.error = error


def _produce(batch_ref, out, stop, epoch, batches_per_epoch):
    """The thread: batches (epoch, 0), (epoch, 1), ... into ``out`` until ``stop`` or an error.

    Holds the iterator only weakly (``batch_ref`` is a WeakMethod), so dropping it stops the thread.
    """
    batch = 0
    while not stop.is_set():
        make_batch = batch_ref()
        if make_batch is None:
            return
        try:
            item = make_batch(epoch, batch)
        except BaseException as error:  # noqa: BLE001  (handed to the consumer, never lost)
            if isinstance(error, StopIteration):  # raised by next(it) it would end the consumer's loop
                wrapped = RuntimeError(f"StopIteration while building a batch: {error!r}")
                wrapped.__cause__ = error
                error = wrapped
            item = _Failure(error)
        del make_batch
        while not stop.is_set():
            try:
                out.put(item, timeout=POLL_SECONDS)
                break
            except queue.Full:
                continue
        if isinstance(item, _Failure):
            return
        batch += 1
        if batch == batches_per_epoch:
            epoch, batch = epoch + 1, 0


class BatchIterator:
    """Keras's ``Iterator`` over ``n`` samples; subclasses give ``_load(indices)`` (the images, (B, H,
    W, C)) and ``_targets(indices, batch_x)`` (the labels, or None to yield x alone)."""

    def __init__(self, n, batch_size, shuffle, seed, prefetch=1):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) or prefetch < 1:
            raise ValueError(f"prefetch must be a positive integer (batches prepared ahead), got {prefetch!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise ValueError(f"seed must be None or a non-negative integer, got {seed!r}")
        self.n, self.batch_size, self.shuffle, self.seed = int(n), int(batch_size), bool(shuffle), seed
        self.prefetch = int(prefetch)
        self._base = int(seed) if seed is not None else int(np.random.SeedSequence().entropy)
        self._getitem_epoch = 0
        self._next_epoch = 0  # the epoch the thread starts in (next(it) and reset())
        self._delivered = None  # (epoch, batch) of the last batch next(it) returned
        self._thread = self._queue = self._stop = None
        self._error = None
        self._synchronous = None  # decided at the first next(it): see background_thread_is_safe

    # --------------------------------------------------------------- one batch

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def _batch(self, epoch, batch):
        """Batch ``batch`` of epoch ``epoch``: ``(x, y)`` or x; the same whichever thread asks."""
        indices = _epoch_order(self._base, epoch, self.n, self.shuffle)[
            batch * self.batch_size:(batch + 1) * self.batch_size]  # (B,)
        rng = np.random.default_rng([self._base, epoch, batch])
        x = self._augment(self._load(indices), rng)  # (B, H, W, C)
        y = self._targets(indices, x)
        return x if y is None else (x, y)

    def __getitem__(self, index):
        """Batch ``index`` of the current epoch, built now in this thread (as Keras's PyDataset)."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"batch index must be an integer, got {index!r}")
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range: this iterator has {len(self)} batches per epoch")
        return self._batch(self._getitem_epoch, int(index))

    def on_epoch_end(self):
        """Next epoch for ``it[i]`` (reshuffled when ``shuffle``), as Keras's ``on_epoch_end``."""
        self._getitem_epoch += 1

    # --------------------------------------------------------------- the background thread

    def __iter__(self):
        return self

    def __next__(self):
        if self._error is not None:
            raise self._error
        if self._thread is None and self._synchronous is None:
            self._synchronous = not background_thread_is_safe()
        if self._synchronous:
            position = self._delivered_next()
            item = self._batch(*position)
            self._delivered = position
            return item
        if self._thread is None:
            self._start()
        while True:
            try:
                item = self._queue.get(timeout=POLL_SECONDS)
                break
            except queue.Empty:
                if not self._thread.is_alive():
                    self._error = RuntimeError("the batch thread stopped without a batch or an error")
                    raise self._error from None
        if isinstance(item, _Failure):
            self.close()
            self._error = item.error
            raise item.error
        self._delivered = self._delivered_next()
        return item

    def _delivered_next(self):
        if self._delivered is None:
            return self._next_epoch, 0
        epoch, batch = self._delivered
        return (epoch, batch + 1) if batch + 1 < max(len(self), 1) else (epoch + 1, 0)

    def _start(self):
        self._queue = queue.Queue(maxsize=self.prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_produce, name=f"{type(self).__name__}-batches", daemon=True,
            args=(weakref.WeakMethod(self._batch), self._queue, self._stop, self._next_epoch, max(len(self), 1)))
        weakref.finalize(self, self._stop.set)
        self._thread.start()

    def close(self):
        """Stop the background thread (the batches it prepared are dropped). ``next(it)`` after
        this starts a new epoch (in a new thread)."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = self._queue = self._stop = None
        if self._delivered is not None:
            self._next_epoch = self._delivered[0] + 1
            self._delivered = None

    def reset(self):
        """Start a new epoch with the next ``next(it)`` (Keras's ``reset``)."""
        self.close()

    @property
    def thread_alive(self):
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


class ArrayIterator(BatchIterator):
    """``ImageDataGenerator.flow``: augmented batches from x (N, H, W, C) and optional y (N, ...).

    As Keras's ``NumpyArrayIterator``: x is stored in the generator's dtype, each image is warped
    in it and standardized; yields ``(x_batch, y[indices])``, or x_batch when y is None.
    """

    def __init__(self, x, y, image_data_generator, batch_size=32, shuffle=True, seed=None, prefetch=1):
        self.image_data_generator = image_data_generator
        self.dtype = image_data_generator.dtype
        self.x = np.ascontiguousarray(check_images(x, "x", 4, allow_uint8=True), dtype=self.dtype)
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"x and y must have the same length, got x.shape = {self.x.shape}, "
                             f"y.shape = {self.y.shape}")
        super().__init__(len(self.x), batch_size, shuffle, seed, prefetch)

    def _load(self, indices):
        return self.x[indices]  # (B, H, W, C)

    def _augment(self, images, rng):
        return self.image_data_generator.augment_batch(images, rng, self.dtype, self.dtype)

    def _targets(self, indices, batch_x):
        return None if self.y is None else self.y[indices]
