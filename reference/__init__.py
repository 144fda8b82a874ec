"""The article's two Keras trainings, working on today's Keras 3.

    python -m reference.fashion_mnist                  # SeparableConv2D network on Fashion-MNIST
    python -m reference.fashion_mnist --model standard # the same with Conv2D everywhere
    python -m reference.monkeys --data-dir DIR         # 10 Monkey Species, CNN with augmentation

Each run writes a run folder (``--out``): ``best_model.keras`` (the best epoch by validation loss,
written atomically), ``logs/`` (TensorBoard), ``history.csv``, the learning-curve PNGs and
``metrics.json`` (final evaluation of the last model and of the best checkpoint).

Modules: ``runtime`` (quiet TensorFlow import, versions, devices, seed, precision, strategy),
``outputs`` (checkpoint, history, curves, metrics), ``fashion_mnist``, ``monkeys``.
From scratchconv it uses only ``scratchconv.data`` (pure NumPy), ``scratchconv._atomic`` (atomic
writes) and ``scratchconv._tensorflow`` (TensorFlow imported without its start-up noise).
"""
