"""ImageDataGenerator's transforms against Keras 2's (keras.src.legacy.preprocessing.image).

- apply_transform equals Keras's apply_transform (scipy.ndimage.affine_transform per channel)
  on random images, sizes, parameters, fill modes and both interpolation orders;
- the batch kernel equals the per-image call, the loop version and itself without the JIT;
- get_random_transform draws from Keras's distributions (statistical tests that can fail);
- the constructor and apply_transform refuse what they should, by name, before any Numba code.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from keras.src.legacy.preprocessing import image as keras_image
from scipy import stats

from scratchconv.data import ImageDataGenerator, warp
from scratchconv.data.augment_args import KERAS_ONLY

# Keras's legacy module calls scipy.ndimage.interpolation.affine_transform (a deprecated namespace)
pytestmark = pytest.mark.filterwarnings("ignore:Please import `affine_transform`:DeprecationWarning")

FILL_MODES = ("nearest", "constant", "reflect", "wrap")
KEYS = ("theta", "tx", "ty", "shear", "zx", "zy", "flip_horizontal", "flip_vertical",
        "channel_shift_intensity", "brightness")


def keras_generator(**kwargs):
    return keras_image.ImageDataGenerator(**kwargs)


# ----------------------------------------------------------------------------- apply_transform vs Keras

# Parameters mix arbitrary floats with round values, which put sampling coordinates exactly on
# pixel centres and on the .5 boundaries where order 0 must round as SciPy does (up).
ROUND = st.sampled_from([0.0, 0.5, -0.5, 1.0, -1.5, 2.0, 3.0, -4.0])


@st.composite
def transform_cases(draw):
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    channels = draw(st.sampled_from([1, 3, 4]))
    params = {
        "theta": draw(st.one_of(st.floats(-180, 180), st.sampled_from([0.0, 90.0, -90.0, 180.0, 45.0]))),
        "tx": draw(st.one_of(st.floats(-1.5 * h, 1.5 * h), ROUND)),
        "ty": draw(st.one_of(st.floats(-1.5 * w, 1.5 * w), ROUND)),
        "shear": draw(st.one_of(st.floats(-60, 60), st.just(0.0))),
        "zx": draw(st.one_of(st.floats(0.25, 3.0), st.sampled_from([1.0, 0.5, 2.0]))),
        "zy": draw(st.one_of(st.floats(0.25, 3.0), st.sampled_from([1.0, 0.5, 2.0]))),
        "flip_horizontal": draw(st.booleans()),
        "flip_vertical": draw(st.booleans()),
    }
    config = dict(fill_mode=draw(st.sampled_from(FILL_MODES)), interpolation_order=draw(st.sampled_from([0, 1])),
                  cval=draw(st.sampled_from([0.0, -1.25, 3.0])))
    x = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).standard_normal((h, w, channels)).astype(np.float32)
    return x, params, config


@given(transform_cases())
def test_apply_transform_equals_keras(case):
    x, params, config = case
    expected = keras_generator(**config).apply_transform(x.copy(), dict(params))
    got = ImageDataGenerator(**config).apply_transform(x, params)
    assert got.shape == x.shape and got.dtype == np.float32
    if config["interpolation_order"] == 0:
        np.testing.assert_array_equal(got, expected)
    else:
        # The brief's bound (1e-5 of the image's range). The arithmetic is SciPy's, step for step,
        # so today this is bitwise equal too (test_order_1_is_bitwise_equal_to_scipy_today).
        value_range = float(x.max() - x.min()) or 1.0
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * value_range)


def test_order_1_is_bitwise_equal_to_scipy_today():
    """With SciPy built without fused multiply-add (its wheels are) the order-1 sums are the same
    float64 operations in the same order, so the results are identical, not just close."""
    rng = np.random.default_rng(5)
    for trial in range(200):
        h, w, channels = rng.integers(1, 30), rng.integers(1, 30), rng.choice([1, 3])
        x = rng.standard_normal((h, w, channels)).astype(np.float32)
        params = dict(theta=rng.uniform(-180, 180), tx=rng.uniform(-h, h), ty=rng.uniform(-w, w),
                      shear=rng.uniform(-40, 40), zx=rng.uniform(0.5, 2), zy=rng.uniform(0.5, 2),
                      flip_horizontal=trial % 2, flip_vertical=trial % 3 == 0)
        config = dict(fill_mode=FILL_MODES[trial % 4], cval=0.5)
        expected = keras_generator(**config).apply_transform(x, params)
        np.testing.assert_array_equal(ImageDataGenerator(**config).apply_transform(x, params), expected)


@pytest.mark.parametrize("order", [0, 1])
def test_float64_nan_inf_and_identity_equal_keras(order):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 7, 3))  # float64 stays float64, as in SciPy
    x[2, 3, 1], x[5, 5, 0], x[0, 0, 2] = np.nan, np.inf, -np.inf
    for params in ({"theta": 30.0, "zx": 0.8}, {"tx": 0.5, "ty": -1.5}, {}, {"flip_vertical": 1}):
        expected = keras_generator(interpolation_order=order).apply_transform(x, params)
        got = ImageDataGenerator(interpolation_order=order, dtype="float64").apply_transform(x, params)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, expected)


def test_shift_moves_columns_for_tx_as_keras_does():
    """Keras's axis swap: tx (drawn from height_shift_range) moves the columns, ty the rows."""
    x = np.zeros((5, 8, 1), np.float32)
    x[0, 0, 0] = 1
    got = ImageDataGenerator(fill_mode="constant").apply_transform(x, {"tx": -2})
    assert np.argwhere(got[..., 0]).tolist() == [[0, 2]]
    np.testing.assert_array_equal(got, keras_generator(fill_mode="constant").apply_transform(x, {"tx": -2}))


# ----------------------------------------------------------------------------- batch, loops, no JIT


def _random_params(gen, shape, n, seed):
    rng = np.random.default_rng(seed)
    return [gen.get_random_transform(shape, rng=rng) for _ in range(n)]


ARTICLE = dict(rotation_range=40, width_shift_range=0.2, height_shift_range=0.2, shear_range=0.2,
               zoom_range=0.2, horizontal_flip=True, vertical_flip=True)


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("order", [0, 1])
def test_batch_equals_per_image_and_uint8_equals_float32(fill_mode, order):
    gen = ImageDataGenerator(fill_mode=fill_mode, interpolation_order=order, cval=7.0, **ARTICLE)
    images = np.random.default_rng(2).integers(0, 256, (6, 13, 11, 3), dtype=np.uint8)
    params = _random_params(gen, images.shape[1:], 6, seed=3)
    batch = gen.apply_transform_batch(images, params)
    assert batch.dtype == np.float32
    for n in range(6):
        np.testing.assert_array_equal(batch[n], gen.apply_transform(images[n].astype(np.float32), params[n]))
    np.testing.assert_array_equal(batch, gen.apply_transform_batch(images.astype(np.float32), params))


@pytest.mark.parametrize("fill_mode", FILL_MODES)
def test_loop_version_equals_kernel(fill_mode):
    rng = np.random.default_rng(4)
    for order in (0, 1):
        gen = ImageDataGenerator(fill_mode=fill_mode, interpolation_order=order, **ARTICLE)
        x = rng.standard_normal((3, 9, 12, 2)).astype(np.float32)
        params = _random_params(gen, x.shape[1:], 3, seed=order)
        fast = gen.apply_transform_batch(x, params)
        for n, p in enumerate(params):
            affine = warp.keras_affine_matrix(p["theta"], p["tx"], p["ty"], p["shear"], p["zx"], p["zy"], 9, 12)
            matrix, offset = affine if affine is not None else (None, None)
            slow = warp.warp_image_naive(x[n], matrix, offset, order, warp.FILL_MODES[fill_mode], 0.0,
                                         p["flip_horizontal"], p["flip_vertical"])
            np.testing.assert_array_equal(fast[n], slow)


def test_kernel_runs_without_the_jit():
    """NUMBA_DISABLE_JIT=1 (a debugger stepping through warp_kernel) gives the same pixels."""
    gen = ImageDataGenerator(**ARTICLE)
    x = np.random.default_rng(6).standard_normal((2, 6, 5, 3)).astype(np.float32)
    params = _random_params(gen, x.shape[1:], 2, seed=7)
    child = textwrap.dedent("""
        import pickle, sys
        import numba
        assert numba.config.DISABLE_JIT
        from scratchconv.data import ImageDataGenerator
        x, params, order, mode = pickle.loads(sys.stdin.buffer.read())
        gen = ImageDataGenerator(interpolation_order=order, fill_mode=mode)
        sys.stdout.buffer.write(pickle.dumps(gen.apply_transform_batch(x, params)))
    """)
    import pickle

    for order, mode in ((1, "reflect"), (0, "wrap"), (1, "constant"), (1, "nearest")):
        env = dict(os.environ, NUMBA_DISABLE_JIT="1")
        done = subprocess.run([sys.executable, "-c", child], input=pickle.dumps((x, params, order, mode)),
                              capture_output=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr.decode()
        expected = ImageDataGenerator(interpolation_order=order, fill_mode=mode).apply_transform_batch(x, params)
        np.testing.assert_array_equal(pickle.loads(done.stdout), expected)


# ----------------------------------------------------------------------------- get_random_transform


def _draws(gen, shape, n, seed=0):
    rng = np.random.default_rng(seed)
    draws = [gen.get_random_transform(shape, rng=rng) for _ in range(n)]
    return {key: np.array([d[key] for d in draws], dtype=float) for key in KEYS[:8]}


def _keras_draws(shape, n, **kwargs):
    np.random.seed(0)
    gen = keras_generator(**kwargs)
    draws = [gen.get_random_transform(shape) for _ in range(n)]
    return {key: np.array([d[key] for d in draws], dtype=float) for key in KEYS[:8]}


def test_the_dict_has_keras_keys_and_no_global_state():
    gen = ImageDataGenerator(**ARTICLE)
    keras_keys = tuple(keras_generator(**ARTICLE).get_random_transform((10, 30, 3), seed=1))  # seeds NumPy
    before = np.random.get_state()[1].copy()
    params = gen.get_random_transform((10, 30, 3), seed=1)
    assert tuple(params) == keras_keys
    assert params == gen.get_random_transform((10, 30, 3), seed=1)
    assert params["channel_shift_intensity"] is None and params["brightness"] is None
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    rng = np.random.default_rng(1)
    assert gen.get_random_transform((10, 30, 3), rng=rng) == params
    assert gen.get_random_transform((10, 30, 3), rng=rng) != params  # the Generator advanced


@pytest.mark.parametrize("kwargs", [
    ARTICLE,
    dict(rotation_range=10, width_shift_range=3.5, height_shift_range=[0.1, 0.3], zoom_range=[0.5, 1.5]),
    dict(width_shift_range=4, height_shift_range=[2, 5], shear_range=45, horizontal_flip=True),
], ids=["fractions", "pixels_and_lists", "ints"])
def test_distributions_match_keras(kwargs):
    """Two-sample Kolmogorov-Smirnov per key, ours against Keras's own draws (non-square images,
    so a swapped height/width would show); fixed seeds, so the outcome is deterministic."""
    shape, n = (10, 30, 3), 4000
    ours, theirs = _draws(ImageDataGenerator(**kwargs), shape, n), _keras_draws(shape, n, **kwargs)
    for key in KEYS[:8]:
        if np.ptp(theirs[key]) == 0:
            np.testing.assert_array_equal(ours[key], theirs[key])
        else:
            assert stats.ks_2samp(ours[key], theirs[key]).pvalue > 1e-3, key


def test_ranges_independence_and_flip_rate():
    gen = ImageDataGenerator(rotation_range=30, width_shift_range=0.25, height_shift_range=0.1, shear_range=12,
                             zoom_range=[0.7, 1.1], horizontal_flip=True)
    d = _draws(gen, (20, 40, 3), 20000, seed=11)
    for key, low, high in (("theta", -30, 30), ("tx", -2, 2), ("ty", -10, 10), ("shear", -12, 12),
                           ("zx", 0.7, 1.1), ("zy", 0.7, 1.1)):
        assert low <= d[key].min() and d[key].max() <= high, key
        assert stats.kstest(d[key], stats.uniform(low, high - low).cdf).pvalue > 1e-3, key
    assert abs(np.corrcoef(d["zx"], d["zy"])[0, 1]) < 0.03  # zx and zy drawn apart
    assert abs(d["flip_horizontal"].mean() - 0.5) < 0.015
    assert not d["flip_vertical"].any()  # vertical_flip=False


def test_integer_and_list_shifts():
    d = _draws(ImageDataGenerator(height_shift_range=3, width_shift_range=[0.5, 0.25]), (8, 40, 1), 6000, seed=3)
    assert set(d["tx"]) == {-2, -1, 0, 1, 2}  # np.random.choice(3) * (+-1): 0..2 pixels
    assert set(d["ty"]) == {-20, -10, 10, 20}  # fractions of the width 40
    assert abs(np.mean(d["ty"] > 0) - 0.5) < 0.03
    assert d["theta"].max() == 0 and d["zx"].min() == d["zx"].max() == 1


# ----------------------------------------------------------------------------- refusals


@pytest.fixture
def tripwire(monkeypatch):
    def kernel_ran(*args, **kwargs):
        raise AssertionError("the Numba kernel ran before the arguments were checked")

    monkeypatch.setattr(warp, "warp_kernel", kernel_ran)


@pytest.mark.parametrize("name, value", [
    ("featurewise_center", True), ("samplewise_center", True), ("featurewise_std_normalization", True),
    ("samplewise_std_normalization", True), ("zca_whitening", True), ("brightness_range", (0.5, 1.5)),
    ("channel_shift_range", 10.0), ("preprocessing_function", lambda x: x)])
def test_keras_only_arguments_are_refused_by_name(name, value):
    with pytest.raises(ValueError, match=name):
        ImageDataGenerator(**{name: value})
    ImageDataGenerator(**{name: KERAS_ONLY[name]})  # the value that switches it off is accepted


def test_unknown_arguments_and_positional_ones_are_type_errors():
    with pytest.raises(TypeError, match="rotaton_range"):
        ImageDataGenerator(rotaton_range=10)
    with pytest.raises(TypeError):
        ImageDataGenerator(1 / 255)


@pytest.mark.parametrize("kwargs, name", [
    (dict(rotation_range=-1), "rotation_range"), (dict(width_shift_range=-0.1), "width_shift_range"),
    (dict(height_shift_range=[0.1, -2]), "height_shift_range"), (dict(height_shift_range=[]), "height_shift_range"),
    (dict(shear_range=-5), "shear_range"), (dict(zoom_range=-0.2), "zoom_range"), (dict(zoom_range=1.5), "zoom_range"),
    (dict(zoom_range=[1.2, 0.8]), "zoom_range"), (dict(zoom_range=[0.5, 1, 2]), "zoom_range"),
    (dict(fill_mode="mirror"), "fill_mode"), (dict(interpolation_order=3), "interpolation_order"),
    (dict(interpolation_order=True), "interpolation_order"), (dict(cval=np.nan), "cval"),
    (dict(rescale=np.inf), "rescale"), (dict(validation_split=1.0), "validation_split"),
    (dict(data_format="channels_first"), "data_format"), (dict(horizontal_flip="yes"), "horizontal_flip"),
    (dict(dtype="int32"), "dtype"), (dict(rotation_range="40"), "rotation_range")])
def test_bad_values_are_refused_by_name(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        ImageDataGenerator(**kwargs)


@pytest.mark.parametrize("x, params, error, match", [
    (np.zeros((4, 4, 3), np.int32), {}, TypeError, "float32"),
    (np.zeros((4, 4), np.float32), {}, ValueError, "rank 3"),
    (np.zeros((0, 4, 3), np.float32), {}, ValueError, "at least one row"),
    (np.zeros((4, 4, 3), np.float32), {"theta": np.nan}, ValueError, "theta"),
    (np.zeros((4, 4, 3), np.float32), {"zx": "2"}, ValueError, "zx"),
    (np.zeros((4, 4, 3), np.float32), {"brightness": 1.2}, ValueError, "brightness"),
    (np.zeros((4, 4, 3), np.float32), {"zx": 1e300}, ValueError, "pixels away"),
    (np.zeros((4, 4, 3), np.float32), [("theta", 3)], TypeError, "dict"),
])
def test_apply_transform_refuses_before_the_kernel(tripwire, x, params, error, match):
    with pytest.raises(error, match=match):
        ImageDataGenerator().apply_transform(x, params)


def test_batch_length_mismatch_is_refused(tripwire):
    with pytest.raises(ValueError, match="params_list"):
        ImageDataGenerator().apply_transform_batch(np.zeros((2, 3, 3, 1), np.float32), [{}])


# ----------------------------------------------------------------------------- standardize, flow


def test_standardize_rescales_in_place_like_keras():
    x = np.random.default_rng(0).uniform(0, 255, (4, 5, 3)).astype(np.float32)
    ours, theirs = x.copy(), x.copy()
    assert ImageDataGenerator(rescale=1 / 255).standardize(ours) is ours
    keras_generator(rescale=1 / 255).standardize(theirs)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ImageDataGenerator().standardize(x.copy()), x)


def test_flow_epochs_cover_every_sample_and_repeat_with_the_seed():
    x = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((1, 3, 2, 1), np.float32)
    y = np.arange(10)
    def epochs(seed, prefetch):
        with ImageDataGenerator(rescale=2.0).flow(x, y, batch_size=4, seed=seed, prefetch=prefetch) as it:
            assert len(it) == 3
            return [next(it) for _ in range(6)]
    first, again = epochs(3, 1), epochs(3, 2)
    assert [b[0].shape[0] for b in first] == [4, 4, 2, 4, 4, 2]
    for (xa, ya), (xb, yb) in zip(first, again):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
        np.testing.assert_array_equal(xa[:, 0, 0, 0], 2.0 * ya)  # images stay with their labels
    orders = [np.concatenate([b[1] for b in first[:3]]), np.concatenate([b[1] for b in first[3:]])]
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(10))
    assert list(orders[0]) != list(orders[1])  # reshuffled each epoch
