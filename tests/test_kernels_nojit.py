"""The fast kernels also run as plain Python (NUMBA_DISABLE_JIT=1), with the same results.

A learner steps through a kernel in a debugger with NUMBA_DISABLE_JIT=1, so every kernel body
must work both ways. Numba reads the variable once, at import, so the check runs in a
subprocess: it loads small cases from a file, confirms that no Numba dispatcher exists
(i.e. JIT really is off), runs every public kernel forward and backward, and writes the
results back; here they are compared with the jitted kernels and the naive ones.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import scratchconv
from kernel_cases import make_case
from keras_reference import RTOL, assert_close
from scratchconv import naive

REPO = Path(scratchconv.__file__).resolve().parents[1]

# Small, because plain Python runs the kernels' loops one element at a time. Together they
# cover every kind, both dtypes, bias on/off, strides, dilation, both paddings, groups and
# depth multipliers, unequal strides and strides with dilation, and conv2d's im2col path.
CASES = [
    ("conv2d", np.float32, dict(kernel_hw=(3, 2), out=4, groups=2, padding="same", strides=(2, 1))),
    ("conv2d", np.float64, dict(kernel_hw=(2, 2), out=3, dilation_rate=(2, 1), strides=(1, 2), bias=False)),
    # the row method with padding columns on both sides (2 each), which its shift-add skips
    ("conv2d", np.float64, dict(kernel_hw=(3, 3), out=4, groups=2, padding="same", dilation_rate=(1, 2))),
    # few input channels for the filters: the full im2col, transposed (1 channel) and not (2)
    ("conv2d", np.float32, dict(kernel_hw=(3, 3), out=8, padding="same", strides=(1, 2), channels=1)),
    ("conv2d", np.float64, dict(kernel_hw=(2, 3), out=8, dilation_rate=(2, 1), channels=2)),
    ("depthwise", np.float32, dict(kernel_hw=(3, 3), multiplier=2, padding="same", strides=(2, 2))),
    ("depthwise", np.float64, dict(kernel_hw=(3, 2), multiplier=1, dilation_rate=(1, 2), strides=(2, 1), bias=False)),
    ("pointwise", np.float32, dict(out=3)),
    ("pointwise", np.float64, dict(out=2, bias=False)),
    ("separable", np.float32, dict(kernel_hw=(2, 2), multiplier=2, out=3, padding="same", strides=(1, 2))),
    ("separable", np.float64, dict(kernel_hw=(3, 1), multiplier=3, out=2, dilation_rate=(2, 1), strides=(2, 2), bias=False)),
]

CHILD = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import numba
    from numba.core.dispatcher import Dispatcher

    assert numba.config.DISABLE_JIT, "NUMBA_DISABLE_JIT did not reach the subprocess"
    import scratchconv
    jitted = [(n, a) for n, m in list(sys.modules.items()) if n.startswith("scratchconv")
              for a, v in vars(m).items() if isinstance(v, Dispatcher)]
    assert not jitted, f"Numba dispatchers exist although JIT is disabled: {jitted}"

    names = {"conv2d": "conv2d", "depthwise": "depthwise_conv2d",
             "pointwise": "pointwise_conv2d", "separable": "separable_conv2d"}
    folder = sys.argv[1]
    meta = json.load(open(f"{folder}/cases.json"))
    arrays = np.load(f"{folder}/inputs.npz")
    results = {}
    for i, case in enumerate(meta):
        x = arrays[f"{i}_x"]
        weights = [arrays[f"{i}_w{j}"] for j in range(case["n_weights"])]
        bias = arrays[f"{i}_bias"] if case["bias"] else None
        dy = arrays[f"{i}_dy"]
        config = {k: (tuple(v) if isinstance(v, list) else v) for k, v in case["config"].items()}
        forward = getattr(scratchconv, names[case["kind"]])
        backward = getattr(scratchconv, names[case["kind"]] + "_backward")
        outputs = [forward(x, *weights, bias, **config), *backward(dy, x, *weights, bias, **config)]
        for j, out in enumerate(outputs):
            if out is not None:
                results[f"{i}_{j}"] = out
    np.savez(f"{folder}/outputs.npz", **results)
    print("ran", len(meta), "cases without JIT")
    """
)


def test_kernels_without_jit_equal_jitted_and_naive(tmp_path):
    cases = [make_case(kind, dtype, 2, 5, 4, params.get("channels", 2), seed=30 + i,
                       **{k: v for k, v in params.items() if k != "channels"})
             for i, (kind, dtype, params) in enumerate(CASES)]
    arrays, meta = {}, []
    for i, case in enumerate(cases):
        arrays[f"{i}_x"] = case.x
        arrays[f"{i}_dy"] = case.dy
        for j, w in enumerate(case.weights):
            arrays[f"{i}_w{j}"] = w
        if case.bias is not None:
            arrays[f"{i}_bias"] = case.bias
        meta.append(dict(kind=case.kind, n_weights=len(case.weights), bias=case.bias is not None, config=case.config))
    np.savez(tmp_path / "inputs.npz", **arrays)
    (tmp_path / "cases.json").write_text(json.dumps(meta))
    (tmp_path / "child.py").write_text(CHILD)

    env = dict(os.environ, NUMBA_DISABLE_JIT="1", PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, str(tmp_path / "child.py"), str(tmp_path)],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, f"the no-JIT run failed:\n{done.stdout}\n{done.stderr}"
    assert f"ran {len(cases)} cases without JIT" in done.stdout

    outputs = np.load(tmp_path / "outputs.npz")
    for i, case in enumerate(cases):
        rtol = RTOL[np.dtype(case.dtype)]
        jitted = (case.forward(scratchconv), *case.backward(scratchconv))
        loops = (case.forward(naive), *case.backward(naive))
        for j, (name, fast, slow) in enumerate(zip(("y", *case.names), jitted, loops)):
            if fast is None:
                assert f"{i}_{j}" not in outputs, f"case {i}: {name} should be None without a bias"
                continue
            nojit = outputs[f"{i}_{j}"]
            assert_close(f"case {i} ({case.kind}) {name}: no-JIT vs jitted", nojit, fast, rtol)
            assert_close(f"case {i} ({case.kind}) {name}: no-JIT vs naive", nojit, slow, rtol)
