"""Data for the trainings: the Fashion-MNIST loader (pure NumPy, shared with ``reference/``).

    from scratchconv.data import load_fashion_mnist, split_and_standardize
"""

from .fashion_mnist import (
    DatasetError,
    FashionMNIST,
    load_fashion_mnist,
    split_and_standardize,
    write_fashion_mnist,
)

__all__ = ["DatasetError", "FashionMNIST", "load_fashion_mnist", "split_and_standardize", "write_fashion_mnist"]
