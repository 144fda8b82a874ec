"""Bad input (issue 2, section 7) and unusual-but-valid input.

Bad input: every kernel, fast and naive, forward and backward, raises a ValueError or
TypeError whose message names the offending argument (and shows what came), and raises it
before any Numba kernel runs: the ``no_numba`` fixture replaces every Numba dispatcher in the
kernel modules with a tripwire for these tests.

Unusual but valid input: read-only, Fortran-ordered, non-contiguous arrays and nested lists
give the same results as fresh C-contiguous arrays and are never modified.
"""

import re
import sys

import numpy as np
import pytest
from numba.core.dispatcher import Dispatcher

import scratchconv
from kernel_cases import FUNCTION_NAMES, KINDS, WEIGHT_NAMES, make_case
from keras_reference import RTOL, assert_close
from scratchconv import naive

def _numba_kernels():
    """(module, attribute name) of every Numba dispatcher held by a scratchconv module."""
    found = []
    for name, module in list(sys.modules.items()):
        if name == "scratchconv" or name.startswith("scratchconv."):
            found += [(module, attr) for attr, value in vars(module).items() if isinstance(value, Dispatcher)]
    return found


@pytest.fixture
def no_numba(monkeypatch):
    """Every Numba kernel in scratchconv fails the test if it is called."""

    def tripwire(*args, **kwargs):
        raise AssertionError("a Numba kernel ran before the arguments were checked")

    for module, attr in _numba_kernels():
        monkeypatch.setattr(module, attr, tripwire)


def test_tripwire_finds_the_numba_kernels():
    """The fixture above has something to replace (else the 'before any Numba code' check is empty)."""
    modules = {m.__name__ for m, _ in _numba_kernels()}
    assert {"scratchconv.kernels.standard_rows", "scratchconv.kernels.depthwise"} <= modules, modules


# ----------------------------------------------------------------------------- the calls


def _baseline(kind):
    """Keyword arguments of a good forward and backward call (float32, bias, 'same')."""
    case = make_case(kind, np.float32, 2, 6, 5, 3, kernel_hw=(3, 2), out=4, multiplier=2, padding="same", seed=3)
    arrays = dict(x=case.x, bias=case.bias, dy=case.dy, **dict(zip(WEIGHT_NAMES[kind], case.weights)))
    return arrays, dict(case.config)


def _call(kind, module, which, arrays, config):
    fn = getattr(module, FUNCTION_NAMES[kind][0 if which == "forward" else 1])
    args = dict(arrays)
    if which == "forward":
        args.pop("dy")
    return fn(**args, **config)


def _set(**changes):
    """A mutation: replace arrays/keyword arguments by name."""

    def mutate(arrays, config):
        arrays, config = dict(arrays), dict(config)
        for key, value in changes.items():
            target = arrays if key in arrays else config
            target[key] = value(arrays.get(key, config.get(key))) if callable(value) else value
        return arrays, config

    return mutate


def _bad_inputs(kind):
    """(id, mutation, exception, argument names (one must be in the message), what came or None)."""
    weights = WEIGHT_NAMES[kind]
    out = []
    # --- x
    out += [
        ("x-rank-3", _set(x=lambda x: x[0]), ValueError, ["x"], "(6, 5, 3)"),
        ("x-rank-5", _set(x=lambda x: x[None]), ValueError, ["x"], "(1, 2, 6, 5, 3)"),
        ("x-None", _set(x=None), TypeError, ["x"], None),
        ("x-string", _set(x="x"), TypeError, ["x"], None),
        ("x-no-channels", _set(x=lambda x: x[..., :0]), ValueError, ["x", weights[0]], None),
    ]
    for dtype in ("int32", "int64", "bool", "object", "complex64", "complex128", "float16"):
        out.append((f"x-{dtype}", _set(x=lambda x, d=dtype: x.astype(d)), TypeError, ["x"], dtype))
    # --- weights
    for w in weights:
        out += [
            (f"{w}-rank-3", _set(**{w: lambda k: k[0]}), ValueError, [w], None),
            (f"{w}-rank-5", _set(**{w: lambda k: k[None]}), ValueError, [w], None),
            (f"{w}-int64", _set(**{w: lambda k: k.astype(np.int64)}), TypeError, [w], "int64"),
            (f"{w}-complex", _set(**{w: lambda k: k.astype(np.complex64)}), TypeError, [w], "complex64"),
            (f"{w}-float64-with-float32-x", _set(**{w: lambda k: k.astype(np.float64)}), TypeError, [w], "float64"),
            (f"{w}-no-outputs", _set(**{w: lambda k: k[..., :0]}), ValueError, [w], None),
            (f"{w}-channel-mismatch", _set(**{w: lambda k: np.concatenate([k, k[:, :, :1]], axis=2)}), ValueError, [w, "x"], None),
        ]
    if kind in ("conv2d", "depthwise", "separable"):
        out.append((f"{weights[0]}-empty-window", _set(**{weights[0]: lambda k: k[:0]}), ValueError, [weights[0]], None))
    if kind == "pointwise":
        out.append(("kernel-not-1x1", _set(kernel=lambda k: np.concatenate([k, k], axis=1)), ValueError, ["kernel"], "(1, 2, 3, 4)"))
    if kind == "separable":
        out.append(("pointwise_kernel-not-1x1", _set(pointwise_kernel=lambda k: np.concatenate([k, k], axis=0)), ValueError, ["pointwise_kernel"], "(2, 1, 6, 4)"))
    # --- bias
    out += [
        ("bias-too-long", _set(bias=lambda b: np.concatenate([b, b[:1]])), ValueError, ["bias"], None),
        ("bias-too-short", _set(bias=lambda b: b[:-1]), ValueError, ["bias"], None),
        ("bias-rank-2", _set(bias=lambda b: b[None]), ValueError, ["bias"], None),
        ("bias-float64", _set(bias=lambda b: b.astype(np.float64)), TypeError, ["bias"], "float64"),
        ("bias-int", _set(bias=lambda b: b.astype(np.int32)), TypeError, ["bias"], "int32"),
    ]
    # --- strides, dilation_rate, padding, groups
    if kind != "pointwise":
        for arg in ("strides", "dilation_rate"):
            for value in (0, -1, (1, 0), (2, -3)):
                out.append((f"{arg}-{value}", _set(**{arg: value}), ValueError, [arg], repr(value)))
            for value in (1.5, "2", None, True, (1, 2, 3), (1.0, 2)):
                out.append((f"{arg}-{value!r}", _set(**{arg: value}), TypeError, [arg], None))
        for value in ("full", "causal", ""):
            out.append((f"padding-{value!r}", _set(padding=value), ValueError, ["padding"], repr(value)))
        for value in (None, 1):
            out.append((f"padding-{value!r}", _set(padding=value), TypeError, ["padding"], None))
        # an output that would be empty
        out.append(("empty-output-kernel", _set(padding="valid", x=lambda x: x[:, :2]), ValueError, ["empty"], None))
        out.append(("empty-output-dilation", _set(padding="valid", dilation_rate=(1, 5)), ValueError, ["empty"], None))
        out.append(("empty-input", _set(x=lambda x: x[:, :0]), ValueError, ["empty", "x"], None))
    if kind == "conv2d":
        out += [
            ("groups-0", _set(groups=0), ValueError, ["groups"], "0"),
            ("groups-negative", _set(groups=-2), ValueError, ["groups"], "-2"),
            ("groups-float", _set(groups=1.0), TypeError, ["groups"], None),
            ("groups-not-dividing-channels", _set(groups=2), ValueError, ["groups"], None),  # C = 3
            # 6 channels, kernel for groups=2 (3 per group), 3 filters: not divisible by 2.
            ("groups-not-dividing-filters", _set(groups=2, x=lambda x: np.concatenate([x, x], axis=3),
                                                 kernel=lambda k: k[..., :3]), ValueError, ["groups"], None),
            ("algorithm-unknown", _set(algorithm="fft"), ValueError, ["algorithm"], "'fft'"),
            ("algorithm-None", _set(algorithm=None), TypeError, ["algorithm"], "None"),
            ("algorithm-winograd-3x2-kernel", _set(algorithm="winograd"), ValueError, ["algorithm"], "(3, 2)"),
            ("algorithm-winograd-strided", _set(algorithm="winograd", kernel=lambda k: np.concatenate([k, k[:, :1]], axis=1),
                                                strides=2, dy=lambda d: d[:, ::2, ::2]), ValueError, ["algorithm"], "(2, 2)"),
            ("algorithm-im2col-groups", _set(algorithm="im2col", groups=3, kernel=lambda k: k[:, :, :1, :3],
                                             bias=lambda b: b[:3], dy=lambda d: d[..., :3]), ValueError, ["algorithm"], "groups=3"),
        ]
    return out


def _backward_only():
    """Mutations of dy (backward only)."""
    return [
        ("dy-wrong-shape", _set(dy=lambda d: d[:, :-1]), ValueError, ["dy"], None),
        ("dy-rank-3", _set(dy=lambda d: d[0]), ValueError, ["dy"], None),
        ("dy-float64", _set(dy=lambda d: d.astype(np.float64)), TypeError, ["dy"], "float64"),
        ("dy-int", _set(dy=lambda d: d.astype(np.int64)), TypeError, ["dy"], "int64"),
        ("dy-None", _set(dy=None), TypeError, ["dy"], None),
    ]


BAD = [
    pytest.param(kind, which, *entry[1:], id=f"{kind}-{which}-{entry[0]}")
    for kind in KINDS
    for which in ("forward", "backward")
    for entry in _bad_inputs(kind) + (_backward_only() if which == "backward" else [])
]


@pytest.mark.parametrize("module", [scratchconv, naive], ids=["fast", "naive"])
@pytest.mark.parametrize("kind,which,mutate,exception,names,came", BAD)
def test_bad_input_raises_naming_the_argument(no_numba, kind, which, mutate, exception, names, came, module):
    arrays, config = mutate(*_baseline(kind))
    if module is naive and "algorithm" in config:
        pytest.skip("the loop twins have one algorithm: no algorithm keyword")
    with pytest.raises(exception) as info:
        _call(kind, module, which, arrays, config)
    message = str(info.value)
    assert any(re.search(rf"\b{re.escape(n)}\b", message) for n in names), f"message names none of {names}: {message!r}"
    if came is not None:
        assert came in message, f"message does not show what came ({came}): {message!r}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_baseline_of_the_bad_input_tests_is_good(kind):
    for which in ("forward", "backward"):
        _call(kind, scratchconv, which, *_baseline(kind))


# ----------------------------------------------------------------------------- unusual but valid input


def _strided_copy(a):
    """The same values as a non-contiguous view: every other element of a larger array, on every axis."""
    big = np.zeros(tuple(2 * s for s in a.shape), dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    assert a.ndim == 0 or not view.flags.c_contiguous or a.size <= 1
    return view


def _fortran(a):
    return np.asfortranarray(a)


def _read_only(a):
    a = a.copy()
    a.setflags(write=False)
    return a


def _read_only_strided(a):
    a = _strided_copy(a)
    a.setflags(write=False)
    return a


LAYOUTS = {"strided": _strided_copy, "fortran": _fortran, "read-only": _read_only, "read-only-strided": _read_only_strided}


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", KINDS)
def test_unusual_layouts_give_the_same_results_and_are_not_modified(kind, dtype, layout):
    case = make_case(kind, dtype, 2, 7, 6, 3, kernel_hw=(3, 2), out=4, multiplier=2, strides=(2, 2), padding="same", seed=4)
    convert = LAYOUTS[layout]
    odd = case.with_arrays(
        x=convert(case.x), weights=[convert(w) for w in case.weights], bias=convert(case.bias), dy=convert(case.dy)
    )
    originals = [a.copy() for a in (odd.x, *odd.weights, odd.bias, odd.dy)]
    rtol = RTOL[np.dtype(dtype)]
    for module in (scratchconv, naive):
        outputs = (odd.forward(module), *odd.backward(module))
        expected = (case.forward(module), *case.backward(module))
        for name, got, want in zip(("y", *case.names), outputs, expected):
            assert_close(name, got, want, rtol)
            for given_array in (odd.x, *odd.weights, odd.bias, odd.dy):
                assert not np.shares_memory(got, given_array), f"{name} shares memory with an input"
        for before, after in zip(originals, (odd.x, *odd.weights, odd.bias, odd.dy)):
            np.testing.assert_array_equal(after, before)  # never modified


@pytest.mark.parametrize("kind", KINDS)
def test_nested_lists_are_accepted_as_float64(kind):
    """Array-likes go through np.asarray: Python floats make a float64 computation."""
    case = make_case(kind, np.float64, 1, 4, 3, 2, kernel_hw=(2, 2), out=2, multiplier=2, seed=5)
    listed = case.with_arrays(x=case.x.tolist(), weights=[w.tolist() for w in case.weights], bias=case.bias.tolist(), dy=case.dy.tolist())
    for got, want in zip((listed.forward(scratchconv), *listed.backward(scratchconv)),
                         (case.forward(scratchconv), *case.backward(scratchconv))):
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
        assert_close("from lists", got, want, RTOL[np.dtype(np.float64)])


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_have_the_input_dtype(kind):
    for dtype in (np.float32, np.float64):
        case = make_case(kind, dtype, 1, 5, 4, 2, kernel_hw=(2, 2), out=3, multiplier=2, seed=6)
        for a in (case.forward(scratchconv), *case.backward(scratchconv)):
            assert a.dtype == dtype
