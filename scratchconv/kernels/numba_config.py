"""Numba settings, in one place.

Every fast kernel in scratchconv is decorated with ``kernel`` (parallel) or
``serial_kernel``. The settings:

- ``cache=True``: compiled machine code is stored next to the source in
  ``__pycache__`` so a second process pays no compile time. Numba's cache only
  notices edits to the decorated function's own file, so each kernel keeps its
  helpers in its own module.
- ``fastmath=False``: IEEE semantics, so NaN and Inf propagate exactly as they
  do in Keras and results are reproducible.
- ``nogil=True``: kernels release the GIL.
- ``error_model='numpy'``: division by zero gives inf/nan like NumPy instead of
  raising (and lets loops vectorise).

With ``NUMBA_DISABLE_JIT=1`` in the environment, Numba returns the plain
Python functions and ``prange`` is ``range``: every kernel can then be stepped
through in a debugger (slowly).
"""

import os

# Numba's OpenMP threads sleep between parallel regions instead of spinning. A training step
# alternates Numba kernels with BLAS calls; spinning OpenMP threads then steal the cores that
# BLAS needs (see docs/performance.md).
# Only a default: set OMP_WAIT_POLICY yourself to override. It is read at the first parallel call.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
from numba.core.cpu_options import ParallelOptions  # noqa: E402

prange = numba.prange  # re-exported for the kernel modules; plain Python runs it as range

OPTIONS = dict(cache=True, nogil=True, fastmath=False, error_model="numpy")

# Parallel kernels parallelise their explicit prange loops and nothing else. Numba's parallel=True
# would also turn every NumPy array expression in them (``a[:] = 0.0``, ``np.zeros``, ``x + y``)
# into a parallel loop of its own; every kernel here keeps those inside its prange loop (per-thread
# buffers), where Numba runs them serially anyway, so converting them only cost compile time.
# An instance, not a dict: Numba empties a dict it is given as it reads it, so the second
# compilation of a kernel would get parallel=True again.
PRANGE_ONLY = ParallelOptions(dict(prange=True, comprehension=False, reduction=False, inplace_binop=False,
                                   setitem=False, numpy=False, stencil=False, fusion=False))

kernel = numba.njit(parallel=PRANGE_ONLY, **OPTIONS)
serial_kernel = numba.njit(parallel=False, **OPTIONS)

# The one fast-math flag some kernels allow: 'contract', which lets LLVM fuse a * b + c into one
# FMA instruction (rounded once instead of twice). Nothing else changes: NaN and Inf propagate
# as before, and no sum is reordered. A polynomial then takes half the instructions (activations'
# float32 SELU was faster with it); kernels that mostly move data gained nothing from it (the
# depthwise ones were no faster), so only the SELU kernels take it.
CONTRACT = dict(OPTIONS, fastmath={"contract"})
contract_kernel = numba.njit(parallel=PRANGE_ONLY, **CONTRACT)
