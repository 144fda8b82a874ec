"""fit/evaluate/predict on a batch source (scratchconv.nn.batch_sources): Keras's PyDataset protocol,
iterators and iterables give the same training as the arrays of the same batches; every misuse is a
clear error."""

import numpy as np
import pytest

from scratchconv.data import ImageDataGenerator
from scratchconv.layers import Conv2D
from scratchconv.layers.core import Dense, Flatten, MaxPool2D
from scratchconv.nn import EarlyStopping, ModelCheckpoint, Sequential, load_checkpoint
from scratchconv.nn.batch_sources import is_batch_source


def small_model(seed=0):
    model = Sequential([Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 3), seed=seed),
                        MaxPool2D(2), Flatten(), Dense(3, activation="softmax", seed=seed)])
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    return model


def data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 8, 8, 3)).astype(np.float32)  # (n, 8, 8, 3)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, n)]  # (n, 3) one-hot
    return x, y


class Sequence:
    """A PyDataset-like sequence over fixed batches that counts on_epoch_end calls."""

    def __init__(self, x, y, batch_size):
        self.batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size)]
        self.epochs_ended = 0

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]

    def on_epoch_end(self):
        self.epochs_ended += 1


def assert_same_weights(a, b):
    for w, w_ref in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(w, w_ref)


def test_sequence_trains_like_the_arrays_in_the_same_order():
    x, y = data()
    xv, yv = data(9, seed=1)
    by_arrays, by_source = small_model(), small_model()
    h1 = by_arrays.fit(x, y, batch_size=6, epochs=3, shuffle=False, validation_data=(xv, yv), verbose=0)
    train, valid = Sequence(x, y, 6), Sequence(xv, yv, 4)
    h2 = by_source.fit(train, validation_data=valid, epochs=3, verbose=0)
    assert_same_weights(by_arrays, by_source)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(h1.history[key], h2.history[key], rtol=1e-6)
    assert train.epochs_ended == 3 and valid.epochs_ended == 3  # Keras calls it after every pass
    np.testing.assert_allclose(by_source.evaluate(valid, verbose=0), by_arrays.evaluate(xv, yv, verbose=0), rtol=1e-6)
    np.testing.assert_array_equal(by_source.predict(valid, verbose=0), by_arrays.predict(xv, batch_size=4, verbose=0))


def test_generator_with_steps_per_epoch_and_a_plain_iterable():
    x, y = data(12)
    by_arrays, by_generator, by_list = small_model(), small_model(), small_model()
    by_arrays.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)

    def forever():
        while True:
            for i in range(0, 12, 4):
                yield x[i:i + 4], y[i:i + 4]

    by_generator.fit(forever(), steps_per_epoch=3, epochs=2, verbose=0)
    assert_same_weights(by_arrays, by_generator)

    class Batches:  # iterable, not an iterator: a new pass every epoch (as a tf.data.Dataset)
        def __iter__(self):
            return ((x[i:i + 4], y[i:i + 4], None) for i in range(0, 12, 4))

    by_list.fit(Batches(), steps_per_epoch=3, epochs=2, verbose=0)
    assert_same_weights(by_arrays, by_list)


def test_image_iterator_is_a_source_and_resume_fast_forwards_it(tmp_path):
    x, y = data(24)
    generator = ImageDataGenerator(rotation_range=30, horizontal_flip=True)

    def run(epochs, resume=False, path=None):
        model = load_checkpoint(path) if resume else small_model()
        iterator = generator.flow(x, y, batch_size=8, seed=3)
        model.fit(iterator, epochs=epochs, verbose=0, resume=resume, validation_data=(x, y),
                  callbacks=[EarlyStopping(patience=5), ModelCheckpoint(tmp_path / "last.npz")])
        return model

    straight = run(3)
    run(1)
    resumed = run(3, resume=True, path=tmp_path / "last.npz")
    assert_same_weights(straight, resumed)  # epochs 2 and 3 saw the same augmented batches


def test_what_is_a_source():
    x, y = data(4)
    assert not any(is_batch_source(v) for v in (x, x.tolist(), (x, y), None, 3))
    assert is_batch_source(Sequence(x, y, 2)) and is_batch_source(iter([(x, y)]))


def test_misuse_is_a_clear_error():
    x, y = data(8)
    model = small_model()
    with pytest.raises(ValueError, match="y must not be given when x is a batch source"):
        model.fit(Sequence(x, y, 4), y)
    with pytest.raises(ValueError, match="without len\\(\\): pass steps_per_epoch"):
        model.fit((b for b in [(x, y)]), verbose=0)
    with pytest.raises(ValueError, match="ran out of batches after 1 of the 2"):
        model.fit(iter([(x, y)]), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="sample weights"):
        model.fit(iter([(x, y, np.ones(8))]), steps_per_epoch=1, verbose=0)
    with pytest.raises(ValueError, match="steps_per_epoch=5 is more than the 2 batches"):
        model.fit(Sequence(x, y, 4), steps_per_epoch=5, verbose=0)
    with pytest.raises(ValueError, match="batch 1 of x's x must have shape \\(N, 8, 8, 3\\)"):
        model.fit(iter([(x[:4], y[:4]), (x[:4, :6], y[:4])]), steps_per_epoch=2, verbose=0)
    with pytest.raises(ValueError, match="batch 0 of validation_data's y"):
        model.fit(x, y, validation_data=iter([(x, y[:, :2])]), validation_steps=1, verbose=0)
    bad = x.copy()
    bad[1, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="batch 0 of x's x\\[1\\] contains NaN"):
        model.fit(iter([(bad, y)]), steps_per_epoch=1, verbose=0)
    with pytest.raises(TypeError, match="validation_data must be a tuple"):
        model.fit(x, y, validation_data=[x], verbose=0)
