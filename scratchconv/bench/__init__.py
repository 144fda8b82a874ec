"""``scratchconv bench``: every kernel timed against TensorFlow and PyTorch, side by side in one process.

    main.py            the command: arguments, the rounds, the JSON
    measure.py         one layer: its interleaved items (each standard algorithm, TF, PyTorch), its row
    shapes.py          layer specs (``standard:28x28x32->32``), the sets (article, monkeys), arrays, FLOPs
    timing.py          interleaved rounds, the matmul probe that discards noisy rounds, medians
    tensorflow_ops.py  TensorFlow's side (``tf.nn`` ops under ``tf.function``) and thread settings
    torch_ops.py       PyTorch's side (``torch.nn.functional`` + autograd, NCHW or channels_last), optional
    env.py             machine, BLAS and Numba facts; Numba cache counts
    report.py          the printed table
    coldwarm.py        ``--cold-warm``: import and first calls with an empty vs a warm Numba cache
"""

from .main import add_arguments, main, run

__all__ = ["add_arguments", "main", "run"]
