"""Which kernels the BLAS behind ``np.matmul`` runs, as far as ``auto``'s choices need to know.

Every product of the fast convolutions goes through ``np.matmul``, which NumPy's wheels run on
OpenBLAS. OpenBLAS picks a kernel set ("core type") for the CPU when it loads, unless the
environment variable OPENBLAS_CORETYPE names one. Its AVX-512 sets ran the row method's products
about 1.9x faster than its AVX2 ones on this project's machine (docs/performance.md), which moves
where Winograd's fewer multiplications pay (``standard_winograd.winograd_pays``).
"""

import ctypes
import functools

# OpenBLAS's kernel sets that use AVX-512.
AVX512_CORES = ("SKYLAKEX", "COOPERLAKE", "SAPPHIRERAPIDS")


def openblas_function(suffix):
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


@functools.cache
def openblas_core():
    """The name of the kernel set OpenBLAS runs (e.g. 'Haswell', 'SkylakeX'), or None when the BLAS
    is not an OpenBLAS this process can reach. Fixed once OpenBLAS has loaded, so asked once."""
    function = openblas_function("get_corename")
    if function is None:
        return None
    function.restype = ctypes.c_char_p
    name = function()
    return name.decode() if name else None


def avx2_products():
    """True when np.matmul runs OpenBLAS's kernels without AVX-512 (an older CPU, or
    OPENBLAS_CORETYPE set to one); False for its AVX-512 sets and for any other BLAS, whose own
    best kernels are assumed."""
    core = openblas_core()
    return core is not None and core.upper() not in AVX512_CORES
