"""Data for the trainings: Fashion-MNIST (pure NumPy, shared with ``reference/``) and image folders
with Keras 2's ``ImageDataGenerator`` augmentation (NumPy + Numba; Pillow decodes the images).

    from scratchconv.data import load_fashion_mnist, split_and_standardize
    from scratchconv.data import ImageDataGenerator, read_monkey_labels, monkey_folders, monkey_iterators
"""

from .augment import ImageDataGenerator
from .batches import ArrayIterator, BatchIterator
from .fashion_mnist import (
    DatasetError,
    FashionMNIST,
    load_fashion_mnist,
    split_and_standardize,
    write_fashion_mnist,
)
from .image_folder import DirectoryIterator, list_image_folder, load_image, subset_indices
from .monkeys import (ARTICLE_AUGMENTATION, check_monkey_layout, monkey_folders, monkey_iterators,
                      read_monkey_labels)

__all__ = [
    "ARTICLE_AUGMENTATION", "ArrayIterator", "BatchIterator", "DatasetError", "DirectoryIterator", "FashionMNIST",
    "ImageDataGenerator", "check_monkey_layout", "list_image_folder", "load_fashion_mnist", "load_image",
    "monkey_folders", "monkey_iterators", "read_monkey_labels", "split_and_standardize", "subset_indices",
    "write_fashion_mnist",
]
