"""What ``scratchconv bench`` reports about the machine, its threads and Numba's cache."""

import ctypes
import os
import platform
import sys

import numba
import numpy as np

# Environment variables that decide how many threads run, how idle ones wait and which kernels
# OpenBLAS runs (reported as set).
THREAD_ENV = ("NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT",
              "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_CORETYPE", "MKL_NUM_THREADS",
              "TF_ENABLE_ONEDNN_OPTS")

# OpenBLAS's kernel sets ("core types") that use AVX-512.
AVX512_CORES = ("SKYLAKEX", "COOPERLAKE", "SAPPHIRERAPIDS")


def _cpuinfo(field):
    """The value of the first line of /proc/cpuinfo that starts with field, or None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(field):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cpu_model():
    return _cpuinfo("model name") or platform.processor() or platform.machine()


def _openblas_function(suffix):
    """A function of the loaded OpenBLAS (numpy's bundled one or a system one), or None."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
        for path in paths:
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas_", "openblas_"):
                for name in (f"{prefix}{suffix}64_", f"{prefix}{suffix}"):
                    if hasattr(lib, name):
                        return getattr(lib, name)
    except OSError:
        pass
    return None


def set_blas_threads(n):
    """Set OpenBLAS's thread count at run time; False when the BLAS is not an OpenBLAS we can reach."""
    function = _openblas_function("set_num_threads")
    if function is None:
        return False
    function(ctypes.c_int(n))
    return True


def blas_core():
    """The name of the kernel set OpenBLAS runs (e.g. 'Haswell', 'SkylakeX'), or None when unknown.

    OpenBLAS picks it from the CPU when it loads, unless the environment variable
    OPENBLAS_CORETYPE names one."""
    function = _openblas_function("get_corename")
    if function is None:
        return None
    function.restype = ctypes.c_char_p
    name = function()
    return name.decode() if name else None


def cpu_flags():
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    return set((_cpuinfo("flags") or "").split())


def blas_core_warning(core=None, forced=None, flags=None):
    """A warning when OPENBLAS_CORETYPE holds OpenBLAS to kernels without AVX-512 on a CPU that has
    it, else None. On this project's machine (AMD EPYC, AVX-512) the environment sets
    OPENBLAS_CORETYPE=Haswell; OpenBLAS's own choice there is SkylakeX, whose float32 products
    ran 1.6-1.9x faster (np.matmul 512^3: 230 -> 447 GFLOP/s; 16384x96 @ 96x96: 212 -> 420)."""
    core = blas_core() if core is None else core
    forced = os.environ.get("OPENBLAS_CORETYPE") if forced is None else forced
    flags = cpu_flags() if flags is None else flags
    if not forced or core is None or "avx512f" not in flags or core.upper() in AVX512_CORES:
        return None
    return (f"OPENBLAS_CORETYPE={forced} holds OpenBLAS to its {core} kernels on a CPU with AVX-512: scratchconv's "
            "BLAS products run well below this CPU's speed (unset it to let OpenBLAS choose; docs/performance.md)")


def blas_info():
    """(name and version, threads) of the BLAS that np.matmul uses; threads None when unknown."""
    try:
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]
        name = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except (AttributeError, KeyError, TypeError):
        name = "unknown"
    function = _openblas_function("get_num_threads")  # OpenBLAS as bundled with numpy wheels
    threads = None if function is None else int(function())
    return name, threads


def machine_info():
    """A dict describing the machine and the thread settings the run used."""
    blas, blas_threads = blas_info()
    core = blas_core()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        layer = numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        layer = numba.config.THREADING_LAYER
    return {
        "cpu": cpu_model(),
        "cpus": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "numba_threading_layer": layer,
        "numba_jit_disabled": bool(numba.config.DISABLE_JIT),
        "blas": blas,
        "blas_threads": blas_threads,
        "blas_core": core,
        "blas_core_warning": blas_core_warning(core),
        "thread_env": {k: os.environ[k] for k in THREAD_ENV if k in os.environ},
    }


def _dispatchers():
    """Every Numba dispatcher (jitted kernel) in the loaded scratchconv modules, bench helpers excluded."""
    from numba.core.dispatcher import Dispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("scratchconv.") or name.startswith("scratchconv.bench"):
            continue
        for obj in list(vars(module).values()):
            if isinstance(obj, Dispatcher):
                found[id(obj)] = obj
    return list(found.values())


def cache_counts():
    """(loaded from the cache, compiled) so far, summed over every scratchconv kernel and signature."""
    loaded = compiled = 0
    for dispatcher in _dispatchers():
        stats = dispatcher.stats
        loaded += sum(stats.cache_hits.values())
        compiled += sum(stats.cache_misses.values())
    return loaded, compiled


def cache_state(loaded, compiled):
    """'warm' (every kernel came from the cache), 'cold' (all compiled), 'partial', or 'none new'
    (nothing loaded or compiled: this process had already run them, or there are none)."""
    if numba.config.DISABLE_JIT:
        return "jit disabled"
    if loaded and not compiled:
        return "warm"
    if compiled and not loaded:
        return "cold"
    return "partial" if compiled else "none new"
