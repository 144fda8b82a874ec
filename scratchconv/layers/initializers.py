"""Keras's default initializers: glorot_uniform for kernels, zeros for biases.

Seeded through a NumPy Generator; the values differ from Keras's own random
streams (use ``set_weights`` or ``scratchconv.nn.from_keras`` to start from
identical weights), the distributions are the same.
"""

import numpy as np


def compute_fans(shape):
    """Keras's fan_in/fan_out: for a conv kernel (kh, kw, in, out) the receptive
    field kh*kw multiplies both; for a Dense kernel (in, out) they are in and out."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = int(np.prod(shape[:-2]))
    return shape[-2] * receptive, shape[-1] * receptive


def glorot_uniform(shape, dtype=np.float32, rng=None):
    """U(-limit, limit) with limit = sqrt(6 / (fan_in + fan_out))."""
    rng = np.random.default_rng(rng)
    fan_in, fan_out = compute_fans(shape)
    limit = np.sqrt(6.0 / max(1.0, fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def zeros(shape, dtype=np.float32, rng=None):
    return np.zeros(shape, dtype=dtype)


INITIALIZERS = {"glorot_uniform": glorot_uniform, "zeros": zeros}


def get(name):
    if name not in INITIALIZERS:
        raise ValueError(f"initializer must be one of {sorted(INITIALIZERS)}, got {name!r}")
    return INITIALIZERS[name]
