"""Every gradient checked by float64 central finite differences of the forward, no Keras involved.

For the loss L = sum(dy * forward(x, weights..., bias)), each element p of x, of every weight
and of the bias gets

    dL/dp ~= (L(p + h) - L(p - h)) / (2h)

and the backward's gradient must match it to float64 accuracy. The forward is affine in each
single element (a convolution is linear in x and in each weight separately, the bias adds),
so the central difference has no truncation error at any step h: the only error is rounding,
and a large step (h = 0.25, exact in binary) keeps that near 1e-13. The tolerance is the
float64 one used throughout (1e-10 relative to the gradient's scale).

This is where the configurations TensorFlow refuses get their gradients checked
independently: unequal row/column strides for depthwise/separable, and strides > 1 together
with dilation > 1 for every kind (drawn by the property, and pinned in CONFIGS below).
Each check costs two forward calls per element, so the property uses smaller sizes than the
Keras tests (batch <= 2, H, W <= 8, channels <= 4) and checks a random 24 elements of each
array plus two random dense directions (which see an error anywhere in the gradient); the
pinned configurations check every element.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchconv
from kernel_cases import KINDS, cases, make_case, scaled_examples
from keras_reference import assert_close
from scratchconv import naive

STEP = 0.25
RTOL = 1e-10


def _loss_of(case, module):
    """L(arrays) = sum(dy * forward(arrays)) for arrays = [x, weights..., (bias)]."""
    n_weights = len(case.weights)
    dy = case.dy.ravel()

    def loss(arrays):
        bias = arrays[1 + n_weights] if case.bias is not None else None
        c = case.with_arrays(x=arrays[0], weights=arrays[1 : 1 + n_weights], bias=bias)
        return float(np.dot(dy, c.forward(module).ravel()))

    return loss


def assert_backward_matches_finite_differences(case, module=scratchconv, max_elements=None, directions=0, h=STEP):
    """The backward's gradients equal central differences of the forward's loss (float64).

    Every element of x, of each weight and of the bias is checked when ``max_elements`` is
    None; otherwise a random ``max_elements`` of each array, plus ``directions`` random dense
    directions v per array, where (L(p + h v) - L(p - h v)) / 2h must equal sum(grad * v):
    an error anywhere in a gradient shows up there.
    """
    arrays = [case.x.copy(), *(w.copy() for w in case.weights)]
    if case.bias is not None:
        arrays.append(case.bias.copy())
    loss = _loss_of(case, module)
    analytic = case.backward(module)
    assert len(analytic) == len(case.names)
    if case.bias is None:
        assert analytic[-1] is None, "dbias must be None without a bias"
    rng = np.random.default_rng(case.seed)
    for name, a, grad in zip(case.names, arrays, analytic):
        assert grad.shape == a.shape and grad.dtype == a.dtype, f"{name}: {grad.shape} {grad.dtype}"
        flat = a.reshape(-1)  # a view: perturbing flat perturbs the array loss() reads
        picked = np.arange(flat.size)
        if max_elements is not None and flat.size > max_elements:
            picked = rng.choice(flat.size, max_elements, replace=False)
        numeric = np.empty(picked.size)
        for i, j in enumerate(picked):
            original = flat[j]
            flat[j] = original + h
            plus = loss(arrays)
            flat[j] = original - h
            minus = loss(arrays)
            flat[j] = original
            numeric[i] = (plus - minus) / (2 * h)
        assert_close(f"{name} (elements {picked[:8].tolist()}...)", grad.reshape(-1)[picked], numeric, RTOL)
        for _ in range(directions):
            v = rng.standard_normal(a.shape)
            original = a.copy()
            a[...] = original + h * v
            plus = loss(arrays)
            a[...] = original - h * v
            minus = loss(arrays)
            a[...] = original
            along = np.array([(plus - minus) / (2 * h)])
            # The scale of this sum of products is sum|grad * v|, not max|grad|.
            scale = max(1.0, float(np.sum(np.abs(grad * v))))
            np.testing.assert_allclose(np.sum(grad * v), along, rtol=0, atol=RTOL * scale, err_msg=f"{name} along a random direction")


SMALL = dict(dtypes=(np.float64,), max_batch=2, max_size=8, max_channels=4)


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=scaled_examples(0.5))  # 150 under 'ci': each example costs ~200 forward calls
@given(data=st.data())
def test_backward_equals_finite_differences(kind, data):
    case = data.draw(cases(kind, **SMALL), label="case")
    assert_backward_matches_finite_differences(case, max_elements=24, directions=2)


# Configurations TensorFlow cannot check, pinned so that every run covers them.
CONFIGS = [
    ("depthwise", dict(strides=(2, 1), padding="same", kernel_hw=(3, 2))),
    ("depthwise", dict(strides=(1, 3), padding="valid", kernel_hw=(2, 3), multiplier=2)),
    ("separable", dict(strides=(3, 2), padding="same", kernel_hw=(2, 2), multiplier=2)),
    ("separable", dict(strides=(1, 2), padding="valid", kernel_hw=(3, 1))),
    ("conv2d", dict(strides=(2, 2), dilation_rate=(2, 2), padding="same", kernel_hw=(3, 3))),
    ("conv2d", dict(strides=(3, 1), dilation_rate=(1, 2), padding="valid", kernel_hw=(2, 2), groups=2, out=4)),
    ("depthwise", dict(strides=(2, 3), dilation_rate=(3, 2), padding="same", kernel_hw=(2, 3), multiplier=2)),
    ("separable", dict(strides=(2, 2), dilation_rate=(2, 3), padding="valid", kernel_hw=(2, 2), multiplier=3)),
]


@pytest.mark.parametrize("module", [scratchconv, naive], ids=["fast", "naive"])
@pytest.mark.parametrize("kind,config", CONFIGS, ids=[f"{k}-{'-'.join(f'{a}{b}' for a, b in c.items())}" for k, c in CONFIGS])
def test_tf_refused_configs_equal_finite_differences(kind, config, module):
    params = dict(out=3, seed=21)
    params.update(config)
    case = make_case(kind, np.float64, 2, 7, 8, 2, **params)
    # Every element with the fast forward; the naive forward is slow, so a sample plus directions.
    if module is scratchconv:
        assert_backward_matches_finite_differences(case, module)
    else:
        assert_backward_matches_finite_differences(case, module, max_elements=12, directions=2)
