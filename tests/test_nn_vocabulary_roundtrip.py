"""Every layer scratchconv has, through every path: Keras -> from_keras -> to_keras, scratchconv ->
to_keras -> from_keras, and a checkpoint with a resumed run.

One network below holds every class of ``nn.config.CONFIG_KEYS``, each with arguments away from
Keras's defaults (regularizers, constraints, a frozen layer, ReLU's three arguments, asymmetric
padding, ...). The same spec builds the Keras model and the scratchconv one, so each direction
is checked against a model that its own framework built: the same classes, the same config
values for the carried keys, the same weights and the same predictions.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scratchconv import layers as L  # noqa: E402
from scratchconv import nn  # noqa: E402
from scratchconv.nn import checkpoint, losses, regularizers  # noqa: E402
from scratchconv.nn.config import CONFIG_KEYS, layer_class, layer_config  # noqa: E402
from scratchconv.nn.schedules import CosineDecay  # noqa: E402

INPUT_SHAPE = (12, 12, 3)


def keras_object(class_name, **config):
    """A regularizer or constraint as Keras serialises it: both frameworks take this dict."""
    return {"class_name": class_name, "config": config}


L2 = keras_object("L2", l2=0.01)
# 2**-10, a float32 number: Keras's L1 keeps its factor as a float32 tensor and its config gives that
# back (L1(0.001) reports l1=0.0010000000474974513); both compute with the float32 factor (keras_cast).
L1 = keras_object("L1", l1=2.0 ** -10)
MAX_NORM = keras_object("MaxNorm", max_value=2.0, axis=0)
# (Keras class name, arguments), in order: (12, 12, 3) -> (4,). Comments give the output shape.
NETWORK = [
    ("Rescaling", dict(scale=[0.5, 1.0, 2.0], offset=-0.25)),  # per channel
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 3)))),  # (15, 15, 3)
    ("Conv2D", dict(filters=6, kernel_size=(3, 2), strides=(2, 1), activation="relu", kernel_regularizer=L2,
                    bias_constraint=keras_object("NonNeg"))),  # (7, 14, 6)
    ("BatchNormalization", dict(momentum=0.9, epsilon=1e-2, center=False,
                                gamma_regularizer=L1)),
    ("ReLU", dict(max_value=6.0, negative_slope=0.1, threshold=0.5)),
    ("DepthwiseConv2D", dict(kernel_size=3, depth_multiplier=2, padding="same", depthwise_constraint=MAX_NORM,
                             bias_regularizer=keras_object("L1L2", l1=1e-3, l2=2e-3))),  # (7, 14, 12)
    ("LeakyReLU", dict(negative_slope=0.2)),
    ("SeparableConv2D", dict(filters=8, kernel_size=3, depth_multiplier=2, padding="same", activation="tanh",
                             pointwise_regularizer=L2,
                             depthwise_constraint=keras_object("MinMaxNorm", min_value=0.1, max_value=1.5,
                                                               rate=0.5, axis=[0, 1, 2]))),  # (7, 14, 8)
    ("ELU", dict(alpha=0.5)),
    ("Cropping2D", dict(cropping=((1, 0), (0, 2)))),  # (6, 12, 8)
    ("AveragePooling2D", dict(pool_size=3, strides=1, padding="same")),
    ("UpSampling2D", dict(size=(2, 1))),  # (12, 12, 8)
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same")),  # (6, 6, 8)
    ("Conv2D", dict(filters=8, kernel_size=3, padding="same", dilation_rate=2, groups=2, use_bias=False,
                    trainable=False)),
    ("SpatialDropout2D", dict(rate=0.3, seed=2)),
    ("GaussianNoise", dict(stddev=0.1, seed=3)),
    ("Dropout", dict(rate=0.2, noise_shape=(None, 1, 1, 8), seed=4)),
    ("Flatten", dict(data_format="channels_first")),  # (288,)
    ("Reshape", dict(target_shape=(36, 8))),
    ("Dense", dict(units=5, activation="gelu", kernel_regularizer=L2, kernel_constraint=MAX_NORM)),  # (36, 5)
    ("Reshape", dict(target_shape=(6, -1, 5))),  # (6, 6, 5)
    ("GlobalAveragePooling2D", dict(keepdims=True)),  # (1, 1, 5)
    ("GlobalMaxPooling2D", dict()),  # (5,)
    ("Dense", dict(units=4, activation="swish", use_bias=False)),
    ("Activation", dict(activation="selu")),
    ("Softmax", dict(axis=-1)),
]


def test_the_network_holds_every_class_scratchconv_saves():
    assert {name for name, _ in NETWORK} == set(CONFIG_KEYS)


def keras_network():
    layers = [keras.Input(INPUT_SHAPE)]
    for i, (name, arguments) in enumerate(NETWORK):
        layers.append(getattr(keras.layers, name)(**arguments, name=f"layer_{i}"))
    return keras.Sequential(layers, name="vocabulary")


def scratchconv_network():
    return nn.Sequential([layer_class(name)(**arguments, name=f"layer_{i}", input_shape=INPUT_SHAPE if i == 0 else None)
                          for i, (name, arguments) in enumerate(NETWORK)], name="vocabulary")


def random_weights(layers, seed):
    """Weights for each layer (Keras's or ours): normal, a BatchNormalization's moving variance > 0."""
    rng = np.random.default_rng(seed)
    weights = []
    for layer in layers:
        arrays = [rng.normal(0, 0.4, w.shape).astype(np.float32) for w in layer.get_weights()]
        if type(layer).__name__ == "BatchNormalization":
            arrays[-1] = rng.uniform(0.5, 1.5, arrays[-1].shape).astype(np.float32)
        weights += arrays
    return weights


def plain(value):
    """Tuples as lists (JSON's and Keras's configs differ only in that), arrays as lists, nested."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict) and value.get("class_name") == "__numpy__":  # Keras's serialised array
        return value["config"]["value"]
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


def assert_same_keras_configs(keras_layers, keras_layers_ref):
    """The same classes, and the same get_config() values for every key scratchconv carries."""
    assert [type(layer).__name__ for layer in keras_layers] == [type(layer).__name__ for layer in keras_layers_ref]
    for layer, ref in zip(keras_layers, keras_layers_ref):
        config, config_ref = layer.get_config(), ref.get_config()
        for key in (*CONFIG_KEYS[type(ref).__name__], "name"):
            assert key in config_ref, (ref.name, key)  # a key Keras does not have would be compared as None
            assert plain(config.get(key)) == plain(config_ref[key]), (ref.name, key, config.get(key), config_ref[key])
        assert layer.trainable == ref.trainable and layer.dtype_policy.name == ref.dtype_policy.name, ref.name


def inputs(n=5, seed=1):
    return np.random.default_rng(seed).normal(0, 1, (n, *INPUT_SHAPE)).astype(np.float32)


def test_a_keras_model_comes_back_from_scratchconv_unchanged():
    keras_model = keras_network()
    keras_model.set_weights(random_weights(keras_model.layers, seed=0))
    model = nn.from_keras(keras_model)
    assert [layer.trainable for layer in model.layers] == [layer.trainable for layer in keras_model.layers]
    for w, w_ref in zip(model.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(w, w_ref)
    x = inputs()
    expected = keras_model.predict(x, verbose=0)
    # 26 float32 layers, each within TensorFlow's rounding (see each layer's own test)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-6)

    back = nn.to_keras(model)
    assert_same_keras_configs(back.layers, keras_model.layers)
    for w, w_ref in zip(back.get_weights(), keras_model.get_weights()):
        np.testing.assert_array_equal(w, w_ref)
    np.testing.assert_array_equal(back.predict(x, verbose=0), expected)  # the same Keras computation


def test_a_scratchconv_model_comes_back_from_keras_unchanged():
    model = scratchconv_network()
    model.set_weights(random_weights(model.layers, seed=2))
    model.compile(nn.AdamW(CosineDecay(0.01, 50, alpha=0.1, warmup_target=0.02, warmup_steps=5), weight_decay=0.01),
                  losses.get({"name": "sparse_categorical_crossentropy", "from_logits": True}), ["accuracy"])
    keras_model = nn.to_keras(model)
    assert_same_keras_configs(keras_model.layers, keras_network().layers)  # what Keras builds from the spec
    x = inputs(seed=3)
    np.testing.assert_allclose(model.predict(x, verbose=0), keras_model.predict(x, verbose=0), rtol=1e-4, atol=1e-6)

    back = nn.from_keras(keras_model)
    assert [layer_config(layer) for layer in back.layers] == [layer_config(layer) for layer in model.layers]
    for w, w_ref in zip(back.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(w, w_ref)
    np.testing.assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))
    assert back.optimizer.get_config() == model.optimizer.get_config()
    assert back.loss.get_config() == model.loss.get_config() and back.loss.takes_logits


def test_absent_weights_and_lost_bits():
    """Where Keras's config and a layer's differ on purpose: a per-weight argument of a weight the
    layer does not have (Keras ignores gamma_regularizer without scale), and Rescaling's Python
    float scale, which both frameworks round to float32 before computing."""
    keras_model = keras.Sequential([keras.Input((4, 4, 3)),
                                    keras.layers.BatchNormalization(scale=False, gamma_regularizer="l2",
                                                                    beta_constraint="non_neg"),
                                    keras.layers.Rescaling(1 / 255, offset=-0.5)])
    model = nn.from_keras(keras_model)
    bn = layer_config(model.layers[0])["config"]
    assert bn["gamma_regularizer"] is None and bn["beta_constraint"]["class_name"] == "NonNeg"
    back = nn.to_keras(model)
    assert back.layers[0].get_config()["gamma_regularizer"] is None
    scale = back.layers[1].get_config()["scale"]
    assert scale == float(np.float32(1 / 255)) != 1 / 255  # Rescaling keeps the rounded value (see the report)
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x, verbose=0), keras_model.predict(x, verbose=0))


def test_rescaling_keeps_every_bit_of_a_float64_scale(tmp_path):
    """A float64 Rescaling with numpy numbers (kept exactly, unlike a Python float's float32
    rounding, as in Keras) holds them through to_keras, from_keras and a checkpoint."""
    model = nn.Sequential([L.Rescaling(np.float64(1 / 3), offset=np.array([0.1, 0.2, 0.3]), dtype="float64",
                                       input_shape=(2, 2, 3))])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).uniform(0, 255, (2, 2, 2, 3))
    expected = x * (1 / 3) + np.array([0.1, 0.2, 0.3])
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    keras_model = nn.to_keras(model)
    # (called, not predict: Keras's predict casts float64 arrays to floatx, float32)
    np.testing.assert_array_equal(np.asarray(keras_model(x)), expected)
    model.save(tmp_path / "m.npz")
    for again in (nn.from_keras(keras_model), nn.load_checkpoint(tmp_path / "m.npz")):
        assert again.layers[0].scale == 1 / 3 and again.layers[0].offset.tolist() == [0.1, 0.2, 0.3]
        np.testing.assert_array_equal(again.predict(x, verbose=0), expected)


# --------------------------------------------------------------------------- checkpoints and resume


class Crash(nn.Callback):
    """Stops the run at the start of an epoch, as a kill would."""

    def __init__(self, at_epoch):
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt


def noisy_model():
    """BatchNormalization, three random layers (seeded), regularizers and constraints, AdamW with a
    CosineDecay schedule and a from_logits loss: everything a checkpoint must carry."""
    model = nn.Sequential([
        L.Conv2D(4, 3, padding="same", kernel_regularizer="l2", kernel_constraint=regularizers.MaxNorm(1.5),
                 input_shape=(8, 8, 2), seed=0),
        L.BatchNormalization(momentum=0.8, gamma_regularizer=regularizers.L1(1e-3)),
        L.ReLU(max_value=6.0),
        L.SpatialDropout2D(0.25, seed=1),
        L.MaxPool2D(2),
        L.GaussianNoise(0.2, seed=2),
        L.Flatten(),
        L.Dropout(0.3, seed=3),
        L.Dense(3, bias_regularizer=regularizers.L1(0.01), kernel_constraint="non_neg", seed=4),
    ], seed=5)
    model.compile(nn.AdamW(CosineDecay(0.02, 30, alpha=0.1), weight_decay=0.01),
                  losses.get({"name": "sparse_categorical_crossentropy", "from_logits": True}), ["accuracy"])
    return model


def training_data(n=48):
    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 1, (n, 8, 8, 2)).astype(np.float32)
    for c in range(3):  # class c: columns 2c and 2c+1 of channel 0 are bright
        x[y == c, :, 2 * c : 2 * c + 2, 0] += 2.0
    return x, y


def assert_same_run(model, ref):
    """Weights (moving statistics included), optimizer state and every random generator, bit for bit."""
    assert len(model.get_weights()) == len(ref.get_weights())
    for w, w_ref in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_array_equal(w, w_ref)
    assert model.optimizer.iterations == ref.optimizer.iterations
    for slots, slots_ref in zip(model.optimizer.slots, ref.optimizer.slots):
        for s, s_ref in zip(slots, slots_ref):
            np.testing.assert_array_equal(s, s_ref)
    assert model.rng.bit_generator.state == ref.rng.bit_generator.state
    drawing = [i for i, layer in enumerate(ref.layers) if isinstance(layer, (L.Dropout, L.GaussianNoise))]
    assert len(drawing) == 3  # (the other layers' generators drew their initial weights only)
    for i in drawing:
        assert checkpoint.layer_rng_state(model.layers[i]) == checkpoint.layer_rng_state(ref.layers[i]), i


def test_checkpoint_holds_statistics_optimizer_and_generators(tmp_path):
    x, y = training_data()
    model = noisy_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert not np.array_equal(model.layers[1].moving_mean, 0)  # the statistics moved
    model.save(tmp_path / "m.npz")
    loaded = nn.load_checkpoint(tmp_path / "m.npz")
    assert_same_run(loaded, model)
    assert [layer_config(layer) for layer in loaded.layers] == [layer_config(layer) for layer in model.layers]
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert isinstance(loaded.optimizer.learning_rate, CosineDecay) and loaded.loss.takes_logits
    assert loaded.layers[0].constraints["kernel"].get_config() == model.layers[0].constraints["kernel"].get_config()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    # training draws the same masks next: the layers' generators are where the run left them
    np.testing.assert_array_equal(loaded.forward(x[:8], training=True), model.forward(x[:8], training=True))


def test_resumed_run_with_dropout_equals_the_uninterrupted_one(tmp_path):
    x, y = training_data()
    validation = training_data(16)
    fit = dict(x=x, y=y, batch_size=8, epochs=4, validation_data=validation, verbose=0)
    straight = noisy_model()
    history = straight.fit(**fit, callbacks=[nn.ModelCheckpoint(tmp_path / "straight.npz")])

    interrupted = noisy_model()
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(**fit, callbacks=[nn.ModelCheckpoint(tmp_path / "run.npz"), Crash(at_epoch=2)])
    resumed = nn.load_checkpoint(tmp_path / "run.npz")
    assert resumed.epochs_done == 2 and resumed.optimizer.iterations == 2 * 6
    resumed_history = resumed.fit(**fit, callbacks=[nn.ModelCheckpoint(tmp_path / "run.npz")], resume=True)

    assert resumed_history.history == history.history  # every epoch, bit for bit
    assert_same_run(resumed, straight)


def test_a_checkpoint_without_layer_generators_still_loads(tmp_path):
    """Checkpoints written before the layers' generators were saved load (with fresh generators)."""
    model = noisy_model()
    model.save(tmp_path / "m.npz")
    state = checkpoint.read_state(tmp_path / "m.npz")
    del state["layer_rngs"]
    checkpoint.write_state(tmp_path / "old.npz", state)
    loaded = nn.load_checkpoint(tmp_path / "old.npz")
    assert checkpoint.layer_rng_state(loaded.layers[3]) == checkpoint.layer_rng_state(noisy_model().layers[3])


# --------------------------------------------------------------------------- what from_keras refuses


def test_from_keras_lists_every_layer_and_argument_it_cannot_hold():
    keras_model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(4, 3, kernel_regularizer=keras.regularizers.OrthogonalRegularizer(0.01), name="conv_orth"),
        keras.layers.BatchNormalization(synchronized=True, name="bn_sync"),
        keras.layers.UpSampling2D(interpolation="bilinear", name="up_bilinear"),
        keras.layers.Conv2D(4, 1, dtype="mixed_float16", name="conv_mixed"),
        keras.layers.LayerNormalization(name="layer_norm"),
        keras.layers.BatchNormalization(center=False, beta_regularizer="l2", name="bn_fine"),  # ignored by Keras too
        keras.layers.Flatten(name="flat"),
        keras.layers.Dense(2, name="dense_ok"),
    ])
    with pytest.raises(ValueError) as error:
        nn.from_keras(keras_model)
    message = str(error.value)
    assert "(5 problems)" in message, message
    for expected in ("'conv_orth' (Conv2D): kernel_regularizer: regularizer 'OrthogonalRegularizer'",
                     "'bn_sync' (BatchNormalization): synchronized=True",
                     "'up_bilinear' (UpSampling2D): UpSampling2D: interpolation='bilinear'",
                     "'conv_mixed' (Conv2D): computes in float16",
                     "'layer_norm' (LayerNormalization): scratchconv has no LayerNormalization"):
        assert expected in message, message
    for fine in ("bn_fine", "flat", "dense_ok"):
        assert fine not in message
