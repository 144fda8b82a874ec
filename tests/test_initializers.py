"""Keras 3's built-in initializers: by name, by config dict and from Keras objects.

scratchconv draws from NumPy, Keras from TensorFlow, so the values differ; the tests compare
the distributions: each initializer is drawn large (~100k values) by both, with the same
config, and the sample mean, standard deviation and range must agree (tolerances in
standard errors, or a few per cent where noted). Deterministic ones must agree exactly.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from scratchconv.layers import initializers  # noqa: E402
from scratchconv.layers.initializers import get  # noqa: E402

# name -> (Keras class, config): every built-in, with non-default arguments where there are any
RANDOM = {
    "random_normal": ("RandomNormal", {"mean": 0.3, "stddev": 0.2}),
    "random_uniform": ("RandomUniform", {"minval": -0.3, "maxval": 0.5}),
    "truncated_normal": ("TruncatedNormal", {"mean": -0.1, "stddev": 0.4}),
    "variance_scaling": ("VarianceScaling", {"scale": 2.5, "mode": "fan_out", "distribution": "truncated_normal"}),
    "glorot_normal": ("GlorotNormal", {}),
    "glorot_uniform": ("GlorotUniform", {}),
    "he_normal": ("HeNormal", {}),
    "he_uniform": ("HeUniform", {}),
    "lecun_normal": ("LecunNormal", {}),
    "lecun_uniform": ("LecunUniform", {}),
    "orthogonal": ("Orthogonal", {"gain": 1.5}),
}
SHAPE = (3, 3, 64, 48)  # a conv kernel: fan_in 576, fan_out 432; 82,944 values


def draw_both(class_name, config, shape=SHAPE, dtype="float32"):
    ours = get({"class_name": class_name, "config": config})(shape, np.dtype(dtype), np.random.default_rng(0))
    theirs = getattr(keras.initializers, class_name)(**config)(shape, dtype=dtype)
    return ours, np.asarray(theirs)


def assert_same_distribution(ours, theirs, bounded):
    """Two large samples of one distribution: means within 5 standard errors, stds within 2 %,
    the quantiles from 1 % to 99 % within 10 % of a std; bounded ones (uniform, truncated) also
    reach the same edges (to 1 %): the uniform limits and the truncation at 2 stddev.

    The quantile tolerance is loose on purpose: TensorFlow's samples of 83k values spread more
    from draw to draw than independent draws would (their 1 % quantile moved by 0.05 std across
    six unseeded draws, about 4 standard errors), so 5 % of a std failed one run in six.
    """
    std = theirs.std()
    assert abs(ours.mean() - theirs.mean()) < 5 * std * np.sqrt(2.0 / ours.size), (ours.mean(), theirs.mean())
    assert ours.std() == pytest.approx(std, rel=0.02)
    levels = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
    np.testing.assert_allclose(np.quantile(ours, levels), np.quantile(theirs, levels), rtol=0, atol=0.1 * std)
    if bounded:
        assert ours.min() == pytest.approx(theirs.min(), abs=0.01 * std)
        assert ours.max() == pytest.approx(theirs.max(), abs=0.01 * std)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_distribution_matches_keras(name):
    class_name, config = RANDOM[name]
    ours, theirs = draw_both(class_name, config)
    assert ours.shape == theirs.shape == SHAPE and ours.dtype == np.float32
    assert_same_distribution(ours, theirs, bounded=name not in ("random_normal", "orthogonal"))


@pytest.mark.parametrize("name,mode,fan", [("glorot_uniform", "fan_avg", (576 + 432) / 2),
                                           ("he_normal", "fan_in", 576), ("lecun_uniform", "fan_in", 576)])
def test_variance_scaling_formulas(name, mode, fan):
    """The target standard deviation sqrt(scale / n), also after truncation (the /0.8796 factor)."""
    scale = 2.0 if name.startswith("he") else 1.0
    w = get(name)(SHAPE, np.float64, np.random.default_rng(1))
    assert w.std() == pytest.approx(np.sqrt(scale / fan), rel=0.01)
    if name.endswith("uniform"):
        limit = np.sqrt(3 * scale / fan)
        assert -limit <= w.min() < -0.999 * limit and limit * 0.999 < w.max() <= limit
    else:  # truncated at 2 stddev of the untruncated normal
        bound = 2 * np.sqrt(scale / fan) / initializers.TRUNCATED_STDDEV
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound


@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform", "normal"])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
def test_variance_scaling_every_mode_and_distribution(mode, distribution):
    config = {"scale": 0.5, "mode": mode, "distribution": distribution}
    ours, theirs = draw_both("VarianceScaling", config, shape=(5, 5, 32, 128))
    assert_same_distribution(ours, theirs, bounded=distribution != "untruncated_normal")


def test_truncated_normal_redraws_beyond_two_stddev():
    w = get({"class_name": "TruncatedNormal", "config": {"mean": 1.0, "stddev": 0.5}})((200_000,), np.float64)
    assert w.min() >= 0.0 and w.max() <= 2.0  # mean +- 2 stddev
    assert w.std() == pytest.approx(0.5 * initializers.TRUNCATED_STDDEV, rel=0.01)


@pytest.mark.parametrize("shape", [(40, 10), (10, 40), (3, 3, 8, 16), (16, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_orthogonal_is_orthonormal(shape, dtype):
    w = get({"class_name": "Orthogonal", "config": {"gain": 2.0}})(shape, dtype, np.random.default_rng(2))
    assert w.shape == shape and w.dtype == dtype
    flat = w.reshape(-1, shape[-1])  # (rows, cols)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(gram.shape[0]), atol=1e-5 if dtype == np.float32 else 1e-12)


def test_deterministic_initializers_equal_keras():
    for class_name, config, shape in [("Zeros", {}, (3, 4)), ("Ones", {}, (2, 3, 4)),
                                      ("Constant", {"value": 2.5}, (7,)),
                                      ("Identity", {"gain": 3.0}, (4, 6)), ("Identity", {}, (5, 2))]:
        for dtype in ("float32", "float64"):
            ours, theirs = draw_both(class_name, config, shape, dtype)
            assert ours.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(ours, theirs)


def test_every_name_and_alias():
    names = list(initializers.INITIALIZERS) + list(initializers.ALIASES) + [
        "GlorotUniform", "HeNormal", "RandomNormal", "TruncatedNormal", "VarianceScaling", "Zeros", "Ones"]
    for name in names:
        shape = (6, 5)
        w = get(name)(shape, np.float32, np.random.default_rng(3))
        assert w.shape == shape and w.dtype == np.float32, name
        keras_name = {"identity_initializer": "IdentityInitializer",
                      "orthogonal_initializer": "OrthogonalInitializer"}.get(name, name)
        if name != "constant":  # Keras's get("constant") fails: Constant.from_config needs a value
            keras.initializers.get(keras_name)  # the name exists in Keras too
    np.testing.assert_array_equal(get("one")((2,)), [1, 1])
    assert get("uniform") is get("random_uniform") and get("normal") is get("RandomNormal")


def test_keras_objects_and_serialized_configs():
    for obj in [keras.initializers.RandomNormal(mean=2.0, stddev=0.1, seed=5), keras.initializers.Constant(4.0),
                keras.initializers.VarianceScaling(3.0, "fan_avg", "uniform", seed=1),
                keras.initializers.Orthogonal(gain=0.5), keras.initializers.HeUniform(seed=2)]:
        for identifier in (obj, keras.initializers.serialize(obj)):
            w = get(identifier)((64, 64), np.float64, np.random.default_rng(4))
            reference = np.asarray(obj((64, 64), dtype="float64"))
            assert w.std() == pytest.approx(reference.std(), rel=0.1, abs=1e-12)
            assert w.mean() == pytest.approx(reference.mean(), rel=0.1, abs=0.05)


def test_seed_gives_reproducible_values():
    config = {"class_name": "GlorotNormal", "config": {"seed": 42}}
    a = get(config)((8, 8), np.float32, np.random.default_rng(1))
    b = get(config)((8, 8), np.float32, np.random.default_rng(2))  # the seed wins over the layer's rng
    c = get({"class_name": "GlorotNormal", "config": {"seed": 43}})((8, 8), np.float32)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    init = get(keras.initializers.RandomUniform(seed=7))
    np.testing.assert_array_equal(init((5,)), init((5,)))  # every call: the same values, as Keras
    # without a seed, the rng the layer passes decides
    unseeded = get("he_normal")
    np.testing.assert_array_equal(unseeded((4, 4), np.float32, np.random.default_rng(9)),
                                  unseeded((4, 4), np.float32, np.random.default_rng(9)))


def test_layers_accept_every_form():
    from scratchconv.layers import Dense

    layer = Dense(4, kernel_initializer={"class_name": "Orthogonal", "config": {"seed": 1}},
                  bias_initializer=keras.initializers.Constant(0.5))
    layer.build((None, 4))
    np.testing.assert_allclose(layer.weights[0].T @ layer.weights[0], np.eye(4), atol=1e-6)
    np.testing.assert_array_equal(layer.weights[1], np.full(4, 0.5, np.float32))


def test_bad_identifiers_are_clear():
    with pytest.raises(ValueError, match="glorot_uniform.*he_normal.*got 'he_norml'"):
        get("he_norml")
    with pytest.raises(ValueError, match="class_name"):
        get({"config": {}})
    with pytest.raises(TypeError, match="a name such as"):
        get(3.0)
    with pytest.raises(TypeError, match="does not take"):
        get({"class_name": "RandomNormal", "config": {"stdev": 1.0}})
    with pytest.raises(TypeError, match="takes no seed"):
        get({"class_name": "Zeros", "config": {"seed": 1}})
    with pytest.raises(ValueError, match="mode"):
        get({"class_name": "VarianceScaling", "config": {"mode": "fan_sum"}})
    with pytest.raises(ValueError, match="distribution"):
        get({"class_name": "VarianceScaling", "config": {"distribution": "cauchy"}})
    with pytest.raises(ValueError, match="scale"):
        get({"class_name": "VarianceScaling", "config": {"scale": 0.0}})
    with pytest.raises(ValueError, match="2-D"):
        get("identity")((2, 2, 2))
    with pytest.raises(ValueError, match="rank >= 2"):
        get("orthogonal")((5,))
