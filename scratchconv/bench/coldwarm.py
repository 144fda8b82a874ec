"""``scratchconv bench --cold-warm``: what a fresh process pays before its first result.

With ``cache=True`` Numba writes each compiled kernel to disk; a second process loads it instead
of compiling. This runs, in child processes that share one new, empty ``NUMBA_CACHE_DIR`` (the
project's own cache is left alone):

1. cold: ``import scratchconv`` + the first forward and backward of every kind (compiles all);
2. warm: the same in a second process (should load every kernel and compile none);
3. ``scratchconv tour`` (and ``tour --no-keras``) in a new empty cache dir, then again warm.

Each child reports its own import and first-call times and the cache hits/misses of every kernel.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

# Runs in the child: import + first forward/backward of every kind on a small layer, as JSON.
CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import scratchconv
from scratchconv.bench import env, shapes
t1 = time.perf_counter()
report = {"import_ms": 1e3 * (t1 - t0), "kinds": {}}
for text in ("standard:8x8x8->8", "depthwise:8x8x8", "pointwise:8x8x8->8", "separable:8x8x8->8"):
    spec = shapes.parse_spec(text)
    before = env.cache_counts()
    forward, _, backward = shapes.make_calls(spec, shapes.make_arrays(spec, 2, np.float32))
    start = time.perf_counter()
    forward()
    backward()
    after = env.cache_counts()
    report["kinds"][spec.kind] = {"first_calls_ms": 1e3 * (time.perf_counter() - start),
                                  "loaded": after[0] - before[0], "compiled": after[1] - before[1]}
report["total_ms"] = 1e3 * (time.perf_counter() - t0)
print(json.dumps(report))
"""


def _child_env(cache_dir):
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, TF_CPP_MIN_LOG_LEVEL="2")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # so the child imports this checkout
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else root
    return env


def _run_child(args, cache_dir, timeout):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], env=_child_env(cache_dir), capture_output=True, text=True,
                          timeout=timeout)
    wall_ms = 1e3 * (time.perf_counter() - start)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(args)[:60]} failed ({done.returncode}): {' | '.join(tail)}")
    return wall_ms, done.stdout


def kernel_processes(cache_dir, timeout=900):
    """{'cold': report, 'warm': report} of two child processes sharing ``cache_dir`` (empty at first)."""
    reports = {}
    for state in ("cold", "warm"):
        print(f"kernels, {state} cache ...", file=sys.stderr, flush=True)
        wall_ms, out = _run_child(["-c", CHILD], cache_dir, timeout)
        reports[state] = dict(json.loads(out.strip().splitlines()[-1]), process_wall_ms=wall_ms)
    return reports


def run_cold_warm(command, timeout=900):
    """Cold and warm process timings of the kernels and of ``scratchconv tour``, as a JSON-able dict."""
    results = {"command": command, "tour": {}}
    with tempfile.TemporaryDirectory(prefix="scratchconv-numba-cache-") as cache:
        results["kernels"] = kernel_processes(cache, timeout)
    with tempfile.TemporaryDirectory(prefix="scratchconv-numba-cache-") as cache:
        for name, extra, state in (("tour", [], "cold"), ("tour", [], "warm"), ("tour --no-keras", ["--no-keras"],
                                                                                  "warm")):
            print(f"{name}, {state} cache ...", file=sys.stderr, flush=True)
            try:
                wall_ms, _ = _run_child(["-m", "scratchconv", "tour", *extra], cache, timeout)
                results["tour"][f"{name} ({state})"] = {"process_wall_ms": wall_ms}
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                results["tour"][f"{name} ({state})"] = {"error": str(error)}
    return results


def format_cold_warm(results):
    lines = [f"$ {results['command']}",
             "Fresh processes sharing one new NUMBA_CACHE_DIR (import scratchconv, then the first forward and "
             "backward of each kind on an 8x8x8 layer):",
             f"  {'':6}{'process s':>10}{'import s':>10}  first forward+backward ms (kernels loaded/compiled)"]
    for state, r in results["kernels"].items():
        kinds = ", ".join(f"{k} {v['first_calls_ms']:.1f} ({v['loaded']}/{v['compiled']})"
                          for k, v in r["kinds"].items())
        lines.append(f"  {state:6}{r['process_wall_ms'] / 1e3:>10.2f}{r['import_ms'] / 1e3:>10.2f}  {kinds}")
    lines.append("`scratchconv tour`, whole process (a new cache dir, run twice):")
    for name, r in results["tour"].items():
        lines.append(f"  {name:28}" + (f"{r['process_wall_ms'] / 1e3:8.2f} s" if "error" not in r else r["error"]))
    return "\n".join(lines)
