"""The checks ``fit``, ``evaluate`` and ``predict`` run on their arguments before any work starts.

Each failure is a TypeError (wrong kind of thing) or ValueError (wrong value) that names
the argument, says what was expected and what came.
"""

from numbers import Integral

import numpy as np

CHUNK = 8192  # samples per chunk when scanning for NaN/Inf (bounds the temporary memory)


def check_inputs(x, input_shape, dtype, argument="x", finite=False):
    """x as an array of ``dtype`` (cast like Keras casts integer images), shape (N, *input_shape[1:]).

    input_shape: the model's (None, ...) input shape, or None if it is not known yet.
    Raises for a wrong kind, rank or sample shape, no samples, or (with finite=True, as fit
    asks) NaN/Inf anywhere.
    """
    if x is None:
        raise TypeError(f"{argument} is required: an array of shape (N, ...) with the samples")
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{argument} must be an array of real numbers (float or integer), got dtype {a.dtype}")
    if input_shape is not None:
        expected = tuple(input_shape[1:])
        if a.ndim != len(input_shape) or any(e is not None and e != s for e, s in zip(expected, a.shape[1:])):
            raise ValueError(f"{argument} must have shape (N, {', '.join(map(str, expected))}) to fit the "
                             f"model's input {tuple(input_shape)}, got {a.shape}")
    elif a.ndim < 2:
        raise ValueError(f"{argument} must have a batch axis first, (N, ...), got shape {a.shape}")
    if a.shape[0] == 0:
        raise ValueError(f"{argument} has no samples (shape {a.shape})")
    a = a.astype(dtype, copy=False)
    for start in range(0, a.shape[0] if finite else 0, CHUNK):
        chunk = a[start : start + CHUNK]
        finite = np.isfinite(chunk).reshape(chunk.shape[0], -1).all(axis=1)  # (chunk,)
        if not finite.all():
            bad = start + int(np.flatnonzero(~finite)[0])
            raise ValueError(f"{argument}[{bad}] contains NaN or Inf; the inputs must be finite numbers")
    return a


def check_positive_int(value, argument, minimum=1):
    if not isinstance(value, (Integral, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{argument} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value}")
    return int(value)


def check_verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    return int(verbose)
