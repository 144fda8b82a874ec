"""The loop-by-loop kernels (scratchconv.naive) and the fast Numba ones agree.

Drawn over the full ranges, including what TensorFlow refuses (unequal depthwise strides,
strides > 1 with dilation > 1), so every configuration has two implementations that must
agree; the fast ones are tied to Keras in test_kernels_keras.py and to finite differences
in test_kernels_finite_diff.py.
"""

import inspect

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import scratchconv
from kernel_cases import FUNCTION_NAMES, KINDS, cases, output_size
from keras_reference import RTOL, assert_close
from scratchconv import naive


def assert_same_results(case, rtol=None):
    """Fast and naive give the same dtype, shapes and values, forward and backward."""
    rtol = RTOL[np.dtype(case.dtype)] if rtol is None else rtol
    y_naive = case.forward(naive)
    assert y_naive.dtype == case.dtype
    assert y_naive.shape == case.dy.shape  # (N, H_out, W_out, n_out) from TF's formula
    assert_close("y", case.forward(scratchconv), y_naive, rtol)
    fast, slow = case.backward(scratchconv), case.backward(naive)
    assert len(fast) == len(slow) == len(case.names)
    for name, a, b, like in zip(case.names, fast, slow, (case.x, *case.weights, case.bias)):
        if like is None:
            assert a is None and b is None, f"{name} must be None without a bias"
            continue
        assert b.shape == like.shape and b.dtype == case.dtype, f"naive {name}: {b.shape} {b.dtype}"
        assert_close(name, a, b, rtol)


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
def test_naive_equals_fast(kind, data):
    assert_same_results(data.draw(cases(kind), label="case"))


@pytest.mark.parametrize("kind", KINDS)
def test_naive_has_the_public_signatures(kind):
    """The same signatures, but for the fast conv2d's ``algorithm`` (the loop twin has one algorithm)."""
    for name in FUNCTION_NAMES[kind]:
        fast = inspect.signature(getattr(scratchconv, name))
        fast = fast.replace(parameters=[p for p in fast.parameters.values() if p.name != "algorithm"])
        assert inspect.signature(getattr(naive, name)) == fast, name
    if kind == "conv2d":
        assert "algorithm" in inspect.signature(scratchconv.conv2d).parameters


def test_output_size_formula_examples():
    """The formula that shapes dy in kernel_cases, on the article's 5x5 input with a 3x3 kernel."""
    assert output_size(5, 3, 1, 1, "same") == 5
    assert output_size(5, 3, 1, 1, "valid") == 3
    assert output_size(5, 3, 2, 1, "same") == 3
    assert output_size(7, 3, 2, 2, "valid") == 2  # dilated window spans 5: rows 0-4 and 2-6
