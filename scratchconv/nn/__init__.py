"""Training on scratchconv's own kernels, with Keras's API: Sequential, losses, optimizers, callbacks.

    from scratchconv.layers import Conv2D, SeparableConv2D
    from scratchconv.layers import Dense, Flatten, MaxPool2D
    from scratchconv import nn

    model = nn.Sequential([...])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, validation_data=(x_val, y_val),
                        callbacks=[nn.EarlyStopping(patience=5, min_delta=1e-3)])

TensorFlow is optional: it is imported only by from_keras/to_keras.
"""

from .callbacks import Callback, CSVLogger, EarlyStopping, History, ModelCheckpoint
from .keras_io import to_keras
from .loading import from_keras, load_checkpoint
from .losses import CategoricalCrossentropy, SparseCategoricalCrossentropy
from .model import Sequential
from .networks import fashion_mnist_model, mobilenet_model, monkeys_model
from .optimizers import SGD, Adam, AdamW, RMSprop
from . import schedules

__all__ = [
    "Adam", "AdamW", "CSVLogger", "Callback", "CategoricalCrossentropy", "EarlyStopping", "History",
    "ModelCheckpoint", "RMSprop", "SGD", "Sequential", "SparseCategoricalCrossentropy", "fashion_mnist_model",
    "from_keras", "load_checkpoint", "mobilenet_model", "monkeys_model", "schedules", "to_keras",
]
