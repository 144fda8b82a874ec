"""Training settings against Keras: optimizers (AdamW, RMSprop, amsgrad, weight decay, clipping),
learning-rate schedules, from_logits losses, compile_from_keras and checkpoints with a schedule.

Each test trains the same small network (tests/keras_small_net.py) in Keras and in scratchconv,
in float64, a few train_on_batch steps, and compares the losses and every weight.
"""

import warnings

import keras
import numpy as np
import pytest

from keras_small_net import CLASSES, assert_same_weights, batches, train_both, twins
from scratchconv import nn
from scratchconv.nn import keras_compile, optimizers, schedules

KS = keras.optimizers.schedules
OPTIMIZERS = [
    ("RMSprop", dict()),
    ("RMSprop", dict(learning_rate=0.01, rho=0.8, momentum=0.5, centered=True)),
    ("AdamW", dict()),
    ("AdamW", dict(learning_rate=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(amsgrad=True, clipnorm=0.5)),
    ("SGD", dict(learning_rate=0.1, momentum=0.9, weight_decay=0.05, global_clipnorm=1.0)),
    ("SGD", dict(learning_rate=0.1, clipvalue=0.01)),
    ("SGD", dict(learning_rate=KS.ExponentialDecay(0.1, 2, 0.5, staircase=True))),
    ("SGD", dict(learning_rate=KS.InverseTimeDecay(0.1, 1, 0.5))),
    ("SGD", dict(learning_rate=KS.PiecewiseConstantDecay([0, 1], [0.2, 0.1, 0.05]))),
    ("Adam", dict(learning_rate=KS.PolynomialDecay(0.01, 3, power=2.0, cycle=True))),
    ("SGD", dict(learning_rate=KS.CosineDecay(0.0, 2, alpha=0.1, warmup_target=0.1, warmup_steps=2))),
    ("RMSprop", dict(learning_rate=KS.CosineDecayRestarts(0.01, 1, t_mul=2.0, m_mul=0.5))),
]


@pytest.fixture(autouse=True)
def float64_keras():
    # The optimizer's learning-rate variable is floatx: float64 here, or Keras rounds it to float32.
    # Keras caches a global dtype policy made from floatx: put it back too, or later tests build float64.
    policy = keras.config.dtype_policy()
    keras.config.set_floatx("float64")
    yield
    keras.config.set_dtype_policy(policy)
    keras.config.set_floatx("float32")


def label(case):
    name, config = case
    return name + "-" + "-".join(f"{k}={getattr(v, 'name', v)}" for k, v in config.items())


@pytest.mark.parametrize("case", OPTIMIZERS, ids=label)
def test_train_on_batch_with_each_optimizer_equals_keras(case):
    name, config = case
    keras_model, model = twins()
    keras_model.compile(getattr(keras.optimizers, name)(**config), "sparse_categorical_crossentropy")
    model.compile(keras_model.optimizer, "sparse_categorical_crossentropy")  # a Keras object, converted
    assert isinstance(model.optimizer, optimizers.OPTIMIZERS[name.lower()])
    for loss, loss_ref in train_both(keras_model, model, steps=4):
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    assert_same_weights(model, keras_model, what=label(case))
    assert model.optimizer.iterations == int(keras_model.optimizer.iterations.numpy()) == 4


@pytest.mark.parametrize("name", ["ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay",
                                  "PolynomialDecay", "CosineDecay", "CosineDecayRestarts"])
def test_schedules_equal_keras_and_round_trip(name):
    args = {"PiecewiseConstantDecay": dict(boundaries=[2, 5], values=[0.1, 0.05, 0.01]),
            "CosineDecayRestarts": dict(initial_learning_rate=0.1, first_decay_steps=3),
            "CosineDecay": dict(initial_learning_rate=0.01, decay_steps=5, warmup_target=0.1, warmup_steps=3)}.get(
        name, dict(initial_learning_rate=0.1, decay_steps=4, decay_rate=0.5) if "Decay" in name and name in (
            "ExponentialDecay", "InverseTimeDecay") else dict(initial_learning_rate=0.1, decay_steps=4))
    ours, ref = getattr(schedules, name)(**args), getattr(KS, name)(**args)
    values = [ours(step) for step in range(20)]
    assert all(isinstance(v, np.float32) for v in values)  # Keras computes schedules in float32
    # float32 cos/log/pow in NumPy and TensorFlow may round differently in the last place.
    np.testing.assert_allclose(values, [float(ref(step)) for step in range(20)], rtol=3e-7)
    assert schedules.get(ref).get_config() == ours.get_config() == KS.serialize(ref)
    assert schedules.get(ours.get_config()).get_config() == ours.get_config()


def test_defaults_equal_keras():
    for ours, ref in ((optimizers.AdamW(), keras.optimizers.AdamW()), (optimizers.RMSprop(), keras.optimizers.RMSprop())):
        config, ref_config = ours.get_config(), ref.get_config()
        for key, value in config.items():
            if key != "name":
                assert value == pytest.approx(ref_config[key]), key
    with pytest.raises(ValueError, match="only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="use_ema"):
        optimizers.get(keras.optimizers.SGD(use_ema=True))
    for name in ("sgd", "adam", "adamw", "rmsprop"):
        assert optimizers.get(name).get_config() == optimizers.get(optimizers.get(name).get_config()).get_config()


@pytest.mark.filterwarnings("ignore::UserWarning")  # Keras: from_logits=True on a softmax output
@pytest.mark.parametrize("sparse", [True, False])
def test_from_logits_losses_equal_keras(sparse):
    # A linear last layer and from_logits=True; then the same with a softmax last layer (Keras then
    # takes the logits cached on the softmax output all the same, and warns).
    for activation in ("linear", "softmax"):
        keras_model, model = twins(activation=activation)
        loss_cls = keras.losses.SparseCategoricalCrossentropy if sparse else keras.losses.CategoricalCrossentropy
        keras_model.compile(keras.optimizers.SGD(0.1), loss_cls(from_logits=True))
        model.compile(optimizers.SGD(0.1), loss_cls(from_logits=True))
        assert model.loss.takes_logits and model.loss.get_config()["from_logits"]
        for loss, loss_ref in train_both(keras_model, model, one_hot=not sparse):
            np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
        assert_same_weights(model, keras_model, what=activation)
        x, y = next(batches(one_hot=not sparse))
        np.testing.assert_allclose(model.evaluate(x, y, verbose=0)[0], keras_model.evaluate(x, y, verbose=0),
                                   rtol=1e-12)
    assert nn.losses.get({"name": "categorical_crossentropy", "from_logits": True}).takes_logits
    with pytest.raises(ValueError, match="label_smoothing"):
        nn.losses.get(keras.losses.CategoricalCrossentropy(label_smoothing=0.1))


def test_compile_from_keras_maps_or_reports():
    keras_model, model = twins(activation="linear")
    schedule = KS.CosineDecay(0.01, 10, warmup_target=0.1, warmup_steps=2)
    keras_model.compile(keras.optimizers.AdamW(schedule, weight_decay=0.01, clipnorm=1.0),
                        keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    assert keras_compile.compile_from_keras(model, keras_model) == []
    assert isinstance(model.optimizer, optimizers.AdamW) and model.optimizer.clipnorm == 1.0
    assert isinstance(model.optimizer.learning_rate, schedules.CosineDecay)
    assert model.loss.takes_logits and model.metrics == ["accuracy"]
    for loss, loss_ref in train_both(keras_model, model):
        np.testing.assert_allclose(loss, loss_ref, rtol=1e-12)
    assert_same_weights(model, keras_model)
    # What cannot be carried over is reported, never dropped silently.
    keras_model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy", "mae"])
    notes = keras_compile.compile_from_keras(model, keras_model)
    assert len(notes) == 1 and "'mae'" in notes[0]
    fresh = twins()[1]
    keras_model.compile(keras.optimizers.Nadam(), "huber")
    notes = keras_compile.compile_from_keras(fresh, keras_model)
    assert fresh.loss is None and any("Nadam" in n for n in notes) and any("huber" in n for n in notes)
    assert all("model.compile(" in n for n in notes)
    assert keras_compile.compile_from_keras(fresh, twins()[0]) == []  # not compiled: nothing to carry


def test_to_keras_helpers_rebuild_the_same_settings():
    ours = optimizers.SGD(schedules.ExponentialDecay(0.1, 3, 0.5), momentum=0.9, clipnorm=2.0)
    ref = keras_compile.keras_optimizer(keras, ours)
    assert isinstance(ref, keras.optimizers.SGD) and ref.clipnorm == 2.0
    assert isinstance(ref.get_config()["learning_rate"], dict)
    assert optimizers.get(ref).get_config() == ours.get_config()
    loss = keras_compile.keras_loss(keras, nn.losses.get({"name": "sparse_categorical_crossentropy",
                                                            "from_logits": True}))
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy) and loss.get_config()["from_logits"]


def test_checkpoint_resume_with_a_schedule_continues_identically(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((24, 8, 8, 2))
    y = rng.integers(0, CLASSES, 24)

    def compiled():
        model = twins(activation="linear")[1]
        model.compile(optimizers.RMSprop(schedules.PiecewiseConstantDecay([3, 7], [0.01, 0.005, 0.001]),
                                         momentum=0.5, clipvalue=1.0),
                      nn.losses.get({"name": "sparse_categorical_crossentropy", "from_logits": True}), ["accuracy"])
        model.rng = np.random.default_rng(0)
        return model

    straight = compiled()
    straight.fit(x, y, batch_size=8, epochs=4, verbose=0)
    interrupted = compiled()
    interrupted.fit(x, y, batch_size=8, epochs=2, verbose=0)
    path = tmp_path / "run.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        interrupted.save(path)
    resumed = nn.load_checkpoint(path)
    assert isinstance(resumed.optimizer.learning_rate, schedules.PiecewiseConstantDecay)
    assert resumed.loss.takes_logits and resumed.optimizer.iterations == 6
    resumed.fit(x, y, batch_size=8, epochs=4, verbose=0, resume=True)
    for w, w_ref in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(w, w_ref)
