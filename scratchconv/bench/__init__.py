"""``scratchconv bench``: every kernel timed against TensorFlow, side by side in one process.

    main.py            the command: arguments, the rounds, the JSON
    shapes.py          layer specs (``standard:28x28x32->32``), arrays, FLOP counts
    timing.py          interleaved rounds, the matmul probe that discards noisy rounds, medians
    tensorflow_ops.py  TensorFlow's side (``tf.nn`` ops under ``tf.function``) and thread settings
    env.py             machine, BLAS and Numba facts; Numba cache counts
    report.py          the printed table
    coldwarm.py        ``--cold-warm``: import and first calls with an empty vs a warm Numba cache
"""

from .main import add_arguments, main, run

__all__ = ["add_arguments", "main", "run"]
