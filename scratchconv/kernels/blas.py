"""Matrix products from inside Numba kernels: NumPy's own OpenBLAS, called one thread per product.

Winograd's convolution makes 16 or 36 small products per chunk of tiles. Through ``np.matmul``
each wakes OpenBLAS's two threads and waits for both; on the 2-vCPU machine a (910, 32) @ (32, 32)
product then ran at 55 GFLOP/s with two threads, 94 with one. So the fused Winograd kernels
(``standard_winograd_fused.py``) split the chunks between Numba's threads and each thread
calls ``cblas_?gemm`` itself, with OpenBLAS held to the calling thread
(``openblas_set_num_threads_local(1)``, and back to 0, the process's count, after).

The library is the one NumPy loaded (wheels of NumPy 2 ship it as scipy-openblas64: 64-bit
integers, symbols ``scipy_cblas_sgemm64_``...). Its functions are passed to the kernels as plain
addresses (``ADDRESSES``) and called through ``gemm`` and ``blas_threads``, so that the compiled
kernels hold no pointer of this process and Numba can cache them. Where NumPy's BLAS is not an
OpenBLAS with those functions, ``ADDRESSES`` is None and Winograd runs its products through
``np.matmul`` instead.

With ``NUMBA_DISABLE_JIT=1`` the same calls go through ctypes.
"""

import ctypes
import glob
import os

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS's enum values


def _numpy_openblas():
    """NumPy's OpenBLAS, opened with ctypes, or None."""
    here = os.path.dirname(np.__file__)
    candidates = glob.glob(os.path.join(here, "..", "numpy.libs", "*openblas*"))  # Linux and Windows wheels
    candidates += glob.glob(os.path.join(here, ".dylibs", "*openblas*"))  # macOS wheels
    try:
        with open("/proc/self/maps") as maps:  # whatever OpenBLAS the process has loaded (Linux)
            candidates += sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line})
    except OSError:
        pass
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if all(hasattr(lib, name) for name in ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_",
                                               "openblas_set_num_threads_local")):
            return lib
    return None


def _addresses():
    """(sgemm, dgemm, set_num_threads_local) as integers, or None."""
    if os.environ.get("SCRATCHCONV_NO_BLAS_IN_KERNELS"):  # the tests' way to run the np.matmul path
        return None
    lib = _numpy_openblas()
    if lib is None:
        return None
    names = ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "openblas_set_num_threads_local")
    return np.array([ctypes.cast(getattr(lib, name), ctypes.c_void_p).value for name in names], dtype=np.int64)


ADDRESSES = _addresses()


# --------------------------------------------------------------------------- the calls, compiled


def _float_type(dtype):
    return ir.FloatType() if dtype == types.float32 else ir.DoubleType()


@intrinsic
def _gemm_compiled(typingctx, addresses, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """cblas_sgemm or cblas_dgemm (by c's dtype; addresses is ``ADDRESSES``)(RowMajor, trans_a, trans_b,
    m, n, k, 1, a, lda, b, ldb, beta, c, ldc); a, b, c arrays (their first element's address is
    passed), the ints any integer type."""
    ints = (trans_a, trans_b, m, n, k, lda, ldb, ldc)
    if not all(isinstance(t, types.Integer) for t in ints) or not all(isinstance(t, types.Array) for t in (a, b, c)):
        return None
    if not (a.dtype == b.dtype == c.dtype) or c.dtype not in (types.float32, types.float64):
        return None
    signature = types.void(addresses, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, sig, args):
        i32, i64, byte_ptr = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()
        real = _float_type(sig.args[11].dtype)
        function_type = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, byte_ptr, i64,
                                                        byte_ptr, i64, real, byte_ptr, i64])

        def integer(i, width):
            return context.cast(builder, args[i], sig.args[i], types.int64 if width == 64 else types.int32)

        def data(i):
            array = context.make_array(sig.args[i])(context, builder, args[i])
            return builder.bitcast(array.data, byte_ptr)

        scalar_type = sig.args[11].dtype
        address = _address(context, builder, sig.args[0], args[0], 0 if scalar_type == types.float32 else 1)
        function = builder.inttoptr(address, function_type.as_pointer())
        beta_value = context.cast(builder, args[10], sig.args[10], scalar_type)
        builder.call(function, [ir.Constant(i32, ROW_MAJOR), integer(1, 32), integer(2, 32), integer(3, 64),
                                integer(4, 64), integer(5, 64), ir.Constant(real, 1.0), data(6), integer(7, 64),
                                data(8), integer(9, 64), beta_value, data(11), integer(12, 64)])
        return context.get_dummy_value()

    return signature, codegen


def _address(context, builder, array_type, array, index):
    """The int64 addresses[index], in compiled code."""
    data = context.make_array(array_type)(context, builder, array).data
    return builder.load(builder.gep(data, [ir.Constant(ir.IntType(64), index)]))


@intrinsic
def _threads_compiled(typingctx, addresses, n):
    """openblas_set_num_threads_local(n) (addresses is ``ADDRESSES``): OpenBLAS's thread count for
    the calling thread; 0, the process's count."""
    if not isinstance(addresses, types.Array) or not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        i32 = ir.IntType(32)
        function = builder.inttoptr(_address(context, builder, sig.args[0], args[0], 2),
                                    ir.FunctionType(i32, [i32]).as_pointer())
        builder.call(function, [context.cast(builder, args[1], sig.args[1], types.int32)])
        return context.get_dummy_value()

    return types.void(addresses, n), codegen


# --------------------------------------------------------------------------- the same calls, in Python


def _gemm_python(addresses, trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc):
    real, address = (ctypes.c_float, addresses[0]) if c.dtype == np.float32 else (ctypes.c_double, addresses[1])
    i32, i64, ptr = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p
    function = ctypes.CFUNCTYPE(None, i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64, real, ptr, i64)(int(address))
    function(ROW_MAJOR, int(trans_a), int(trans_b), int(m), int(n), int(k), 1.0, a.ctypes.data, int(lda),
             b.ctypes.data, int(ldb), float(beta), c.ctypes.data, int(ldc))


def _threads_python(addresses, n):
    ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32)(int(addresses[2]))(int(n))


if numba.config.DISABLE_JIT:
    gemm, blas_threads = _gemm_python, _threads_python
else:
    gemm, blas_threads = _gemm_compiled, _threads_compiled
