"""Training: the loss goes down, resume equals uninterrupted, bad input fails first, callbacks as Keras's."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scratchconv import nn  # noqa: E402
from scratchconv.layers import Conv2D  # noqa: E402
from scratchconv.layers import Dense, Flatten, MaxPool2D  # noqa: E402


def tiny_model(seed=0, optimizer="sgd", dtype="float32"):
    rng = np.random.default_rng(seed)
    model = nn.Sequential([
        Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1), seed=rng, dtype=dtype),
        MaxPool2D(2, dtype=dtype),
        Flatten(dtype=dtype),
        Dense(3, activation="softmax", seed=rng, dtype=dtype),
    ], seed=seed)
    model.compile(optimizer, "sparse_categorical_crossentropy", ["accuracy"])
    return model


def blobs(n=96, seed=0):
    """8x8 images whose class (0, 1, 2) says which third of the image is bright, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 0.5, (n, 8, 8, 1)).astype(np.float32)
    for c in range(3):
        x[y == c, :, c * 3 : c * 3 + 2, :] += 1.5
    return x, y


def test_short_training_lowers_the_loss():
    x, y = blobs()
    model = tiny_model()
    loss_before = model.evaluate(x, y, verbose=0)[0]
    history = model.fit(x, y, epochs=5, batch_size=16, validation_data=blobs(48, seed=1), verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 5 for v in history.history.values())
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert model.evaluate(x, y, verbose=0)[0] < 0.7 * loss_before
    assert history.history["val_accuracy"][-1] > 0.8  # chance is 1/3


def test_history_plots_with_pandas():
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    history = tiny_model().fit(*blobs(32), epochs=2, verbose=0, validation_data=blobs(16, 1))
    ax = pd.DataFrame(history.history).plot()  # the article's plot_learning_curves
    assert len(ax.get_lines()) == 4


class Crash(nn.Callback):
    """Stops the process-like run at the start of an epoch, as a kill would."""

    def __init__(self, at_epoch):
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def run_callbacks(folder):
    return [nn.EarlyStopping(patience=10, min_delta=1e-3, restore_best_weights=True),
            nn.ModelCheckpoint(folder / "best.npz", save_best_only=True),
            nn.ModelCheckpoint(folder / "last.npz"),
            nn.CSVLogger(folder / "history.csv")]


def test_resume_equals_uninterrupted_training(tmp_path):
    x, y = blobs()
    validation = blobs(32, seed=1)
    fit = dict(x=x, y=y, epochs=5, batch_size=16, validation_data=validation, verbose=0)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()

    straight = tiny_model(optimizer=nn.Adam(0.01))
    history = straight.fit(**fit, callbacks=run_callbacks(tmp_path / "a"))

    interrupted = tiny_model(optimizer=nn.Adam(0.01))
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(**fit, callbacks=[*run_callbacks(tmp_path / "b"), Crash(at_epoch=2)])
    resumed = nn.load_checkpoint(tmp_path / "b" / "last.npz")
    assert resumed.epochs_done == 2 and resumed.optimizer.iterations == 2 * 6
    resumed_history = resumed.fit(**fit, callbacks=run_callbacks(tmp_path / "b"), resume=True)

    assert resumed_history.history == history.history  # every epoch, bit for bit
    for w, w_ref in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(w, w_ref)
    for slots, slots_ref in zip(resumed.optimizer.slots, straight.optimizer.slots):
        for s, s_ref in zip(slots, slots_ref):
            np.testing.assert_array_equal(s, s_ref)
    assert resumed.rng.bit_generator.state == straight.rng.bit_generator.state
    for name in ("best.npz", "last.npz"):
        a, b = nn.load_checkpoint(tmp_path / "a" / name), nn.load_checkpoint(tmp_path / "b" / name)
        for w, w_ref in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_array_equal(w, w_ref)
    assert (tmp_path / "a" / "history.csv").read_text() == (tmp_path / "b" / "history.csv").read_text()
    assert not [p for p in tmp_path.rglob("*") if p.suffix == ".tmp"]


def test_resume_of_an_early_stopped_run_stops_again(tmp_path):
    x, y = blobs(32)
    model = tiny_model()
    callbacks = [nn.EarlyStopping(monitor="loss", patience=0, min_delta=10.0), nn.ModelCheckpoint(tmp_path / "l.npz")]
    history = model.fit(x, y, epochs=5, verbose=0, callbacks=callbacks)
    assert len(history.history["loss"]) == 2  # min_delta 10: epoch 1 is no improvement, stop
    resumed = nn.load_checkpoint(tmp_path / "l.npz")
    callbacks = [nn.EarlyStopping(monitor="loss", patience=0, min_delta=10.0), nn.ModelCheckpoint(tmp_path / "l.npz")]
    again = resumed.fit(x, y, epochs=5, verbose=0, callbacks=callbacks, resume=True)
    assert again.history == history.history
    with pytest.raises(ValueError, match="load_checkpoint"):
        tiny_model().fit(x, y, resume=True, verbose=0)


def test_checkpoint_is_written_atomically(tmp_path, monkeypatch):
    model = tiny_model()
    path = tmp_path / "model.npz"
    model.save(path)
    before = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    model.layers[0].weights[0][...] = 1.0
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before  # the old checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # and no temporary file is left


def test_checkpoint_round_trip_keeps_predictions(tmp_path):
    model = tiny_model(dtype="float64")
    x, _ = blobs(8)
    model.save(tmp_path / "m.npz")
    loaded = nn.load_checkpoint(tmp_path / "m.npz")
    assert loaded.dtype == np.float64 and isinstance(loaded.optimizer, nn.SGD)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="not a scratchconv checkpoint"):
        np.savez(tmp_path / "other.npz", a=np.zeros(3))
        nn.load_checkpoint(tmp_path / "other.npz")


# --------------------------------------------------------------------------- bad input


BAD_FIT_INPUTS = [
    # (description, changes to fit's arguments, error, message)
    ("wrong image shape", dict(x=np.zeros((4, 9, 8, 1), np.float32)), ValueError, r"x must have shape \(N, 8, 8, 1\)"),
    ("wrong rank", dict(x=np.zeros((4, 8, 8), np.float32)), ValueError, "x must have shape"),
    ("no samples", dict(x=np.zeros((0, 8, 8, 1), np.float32), y=np.zeros(0, int)), ValueError, "no samples"),
    ("strings", dict(x=np.full((4, 8, 8, 1), "a")), TypeError, "real numbers"),
    ("NaN in x", "nan", ValueError, r"x\[2\] contains NaN or Inf"),
    ("Inf in x", "inf", ValueError, r"x\[2\] contains NaN or Inf"),
    ("label too large", dict(y=np.array([0, 1, 3, 2])), ValueError, r"y\[2\] = 3 .* 0\.\.2"),
    ("negative label", dict(y=np.array([0, -1, 2, 2])), ValueError, r"y\[1\] = -1"),
    ("fractional label", dict(y=np.array([0, 1.5, 2, 2])), ValueError, "whole-number"),
    ("one-hot for sparse", dict(y=np.eye(3)[[0, 1, 2, 0]]), ValueError, "shape \\(N,\\)"),
    ("fewer labels", dict(y=np.array([0, 1, 2])), ValueError, "x has 4 samples but y has 3"),
    ("no labels", dict(y=None), TypeError, "y is required"),
    ("validation not a pair", dict(validation_data=np.zeros((4, 8, 8, 1))), TypeError, "validation_data"),
    ("validation shape", dict(validation_data=(np.zeros((2, 7, 8, 1)), np.zeros(2, int))), ValueError,
     r"validation_data\[0\] must have shape"),
    ("validation labels", dict(validation_data=(np.zeros((2, 8, 8, 1)), np.array([0, 5]))), ValueError,
     r"validation_data\[1\]\[1\] = 5"),
    ("batch size 0", dict(batch_size=0), ValueError, "batch_size must be >= 1"),
    ("batch size float", dict(batch_size=2.5), TypeError, "batch_size must be an int"),
    ("verbose", dict(verbose=3), ValueError, "verbose"),
    ("unknown callback", dict(callbacks=[keras.callbacks.EarlyStopping()]), TypeError, "callbacks"),
    ("monitor not logged", dict(callbacks=[nn.EarlyStopping()]), ValueError, "val_loss"),
]


@pytest.mark.parametrize("description,change,error,message", BAD_FIT_INPUTS, ids=[c[0] for c in BAD_FIT_INPUTS])
def test_bad_input_to_fit_fails_before_any_work(description, change, error, message):
    model = tiny_model()
    start = model.get_weights()

    def no_work(*args, **kwargs):
        raise AssertionError("fit started working before checking its arguments")

    for layer in model.layers:
        layer.forward = no_work
    arguments = dict(x=np.zeros((4, 8, 8, 1), np.float32), y=np.array([0, 1, 2, 2]), verbose=0)
    if change in ("nan", "inf"):
        arguments["x"][2, 3, 4, 0] = np.nan if change == "nan" else np.inf
    else:
        arguments.update(change)
    with pytest.raises(error, match=message):
        model.fit(**arguments)
    assert model.optimizer.iterations == 0
    for w, w0 in zip(model.get_weights(), start):
        np.testing.assert_array_equal(w, w0)


def test_fit_needs_compile():
    model = nn.Sequential([Dense(2, input_shape=(3,))])
    with pytest.raises(ValueError, match="compile"):
        model.fit(np.zeros((2, 3), np.float32), np.zeros(2, int))
    with pytest.raises(ValueError, match="optimizer must be one of"):
        model.compile("nadam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="loss must be one of"):
        model.compile("sgd", "mse")


def test_one_hot_targets_with_categorical_crossentropy():
    x, y = blobs(48)
    model = tiny_model()
    model.compile(nn.SGD(0.05), "categorical_crossentropy", ["accuracy"])
    history = model.fit(x, np.eye(3)[y], epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    with pytest.raises(ValueError, match=r"shape \(N, 3\)"):
        model.fit(x, y, verbose=0)


# --------------------------------------------------------------------------- callbacks vs Keras


class FakeModel:
    """What a callback touches: stop_training and the weights (one number: the epoch it came from)."""

    def __init__(self):
        self.stop_training, self.epoch = False, 0

    def get_weights(self):
        return [np.array(self.epoch)]

    def set_weights(self, weights):
        self.restored = int(weights[0])


@pytest.mark.parametrize("patience,min_delta", [(0, 0.0), (2, 0.0), (2, 0.05), (5, 1e-3)])
def test_early_stopping_decides_like_keras(patience, min_delta):
    val_losses = [1.0, 0.9, 0.88, 0.95, 0.87, 0.869, 0.9, 0.86, 0.99, 0.98, 0.97, 0.96]
    results = []
    for make in (nn.EarlyStopping, keras.callbacks.EarlyStopping):
        callback = make(patience=patience, min_delta=min_delta, restore_best_weights=True)
        fake = FakeModel()
        callback.set_model(fake)
        callback.on_train_begin()
        for epoch, value in enumerate(val_losses):
            fake.epoch = epoch
            callback.on_epoch_end(epoch, {"val_loss": value})
            if fake.stop_training:
                break
        callback.on_train_end()
        results.append((epoch, getattr(fake, "restored", None)))
    assert results[0] == results[1]


def test_model_checkpoint_best_only_saves_on_improvement(tmp_path):
    model = tiny_model()
    callback = nn.ModelCheckpoint(tmp_path / "best.npz", save_best_only=True)
    callback.set_model(model)
    on_disk = []
    for epoch, value in enumerate([1.0, 1.2, 0.8, 0.8, 0.7]):
        model.layers[-1].weights[1][0] = epoch  # marks the weights with the epoch
        callback.on_epoch_end(epoch, {"val_loss": value})
        on_disk.append(nn.load_checkpoint(tmp_path / "best.npz").layers[-1].weights[1][0])
    assert on_disk == [0, 0, 2, 2, 4]  # strictly better only, as Keras's
    assert callback.best == 0.7


# --------------------------------------------------------------------------- summary, TensorFlow optional


def test_summary_matches_keras_layer_shapes_and_counts(capsys):
    model = nn.fashion_mnist_model("separable", seed=0)
    model.summary()
    text = capsys.readouterr().out
    keras_model = model.to_keras()
    for layer, keras_layer in zip(model.layers, keras_model.layers):
        assert f"{layer.count_params():,}" in text and layer.count_params() == keras_layer.count_params()
        assert str(tuple(keras_layer.output.shape)) in text
    assert "Total params: 184,234 (719.66 KB)" in text


def test_scratchconv_nn_trains_without_tensorflow(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow"] = None  # any import of TensorFlow or Keras now fails
        sys.modules["keras"] = None
        import numpy as np
        from scratchconv import nn
        from scratchconv.layers import Dense
        model = nn.Sequential([Dense(3, activation="softmax", input_shape=(4,), seed=0)], seed=0)
        model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
        x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
        h = model.fit(x, np.arange(20) % 3, epochs=2, verbose=0)
        model.save({str(tmp_path / "m.npz")!r})
        nn.load_checkpoint({str(tmp_path / "m.npz")!r})
        try:
            model.to_keras()
        except ImportError as error:
            print("ok", "pip install" in str(error))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok True"
