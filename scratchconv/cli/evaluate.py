"""``scratchconv evaluate MODEL``: a saved model's loss and accuracy on the data it was trained for.

    scratchconv evaluate MODEL [--data fashion-mnist|monkeys] [--data-dir DIR] [--image-size N|HxW]
        [--batch-size 32] [--limit N] [--seed 7] [--compare-keras]

MODEL is a scratchconv checkpoint (``.npz``: a run folder's checkpoint_best.npz) or a saved Keras
model (``.keras``, ``.h5``), loaded with ``scratchconv.nn.from_keras``. The data are prepared as
the training prepared them for its own evaluation:

- ``--data fashion-mnist`` (the default): the test set, standardised with the mean and standard
  deviation of the training images left after the article's 5,000-image validation split
  (``split_and_standardize``, as ``train fashion-mnist``); integer labels. ``--limit N``: the
  first N test images. ``--data-dir``: the four IDX files (default: searched, as the training).
- ``--data monkeys --data-dir DIR``: Kaggle's validation folder (there is no test set), as
  ``train monkeys`` validates (``monkey_iterators``' validation half):
  ``ImageDataGenerator(rescale=1/255).flow_from_directory(DIR/validation/validation,
  target_size, class_mode='categorical', shuffle=False)``: resized with 'nearest' to the
  model's input size (or ``--image-size``; 128x128 when the model does not fix one), scaled to
  0..1, not augmented, one-hot labels. ``--limit N``: the fixed random subset of the
  validation images that ``train monkeys --limit N --seed S`` validates on (``--seed``, default 7
  as there).

Before anything runs, one line says which data are fed and how. The model's input shape and its
number of classes are checked against the data before any batch. A model without a cross-entropy
that scratchconv has (an uncompiled Keras model) is evaluated with the data's loss: sparse
categorical cross-entropy for integer labels, categorical for one-hot; a line says so. Every
user error (no such file, a file that is not a model, a Keras layer scratchconv does not have, a
shape that does not fit, data that cannot be read) is an ``error:`` message on stderr and exit
status 1, as in the rest of the CLI (argparse's own usage errors exit with 2).
"""

import os
import zipfile

import numpy as np

from .run_folder import positive
from .train_monkeys import _image_size

DATA = ("fashion-mnist", "monkeys")
CHECKPOINT_SUFFIXES, KERAS_SUFFIXES = (".npz",), (".keras", ".h5")
# The cross-entropy that fits each kind of label.
LOSS_FOR = {"integer": "sparse_categorical_crossentropy", "one-hot": "categorical_crossentropy"}
MONKEYS_SEED = 7  # train monkeys' default --seed (the article's flow_from_directory seed)


def add_arguments(parser):
    parser.add_argument("model", metavar="MODEL",
                        help="a scratchconv checkpoint (.npz, e.g. RUN/checkpoint_best.npz) or a saved Keras model "
                             "(.keras, .h5)")
    parser.add_argument("--data", choices=DATA, default="fashion-mnist",
                        help="fashion-mnist: its test set (default); monkeys: the validation folder of --data-dir")
    parser.add_argument("--data-dir", default=None, metavar="DIR",
                        help="fashion-mnist: folder with the four IDX .gz files (default: searched, as the training); "
                             "monkeys: Kaggle's 10-monkey-species folder (required)")
    parser.add_argument("--image-size", type=_image_size, default=None, metavar="N|HxW",
                        help="monkeys: resize the images to this (default: the model's input size, else 128)")
    parser.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="fashion-mnist: the first N test images; monkeys: the random subset of N validation "
                             "images that train monkeys --limit N draws from --seed")
    parser.add_argument("--seed", type=int, default=MONKEYS_SEED,
                        help=f"monkeys with --limit: the seed of the subset (train monkeys' --seed, default "
                             f"{MONKEYS_SEED})")
    parser.add_argument("--compare-keras", action="store_true",
                        help="for a Keras model: also predict with Keras and report the largest difference")


def _one_line(error):
    return " ".join(str(error).split())


def load_model(path):
    """``(model, keras_model)``: a checkpoint's model and None, or a saved Keras model's scratchconv
    twin and the Keras model; an ``error:`` SystemExit for anything else."""
    if not os.path.exists(path):
        raise SystemExit(f"error: {path}: no such file")
    if os.path.isdir(path):
        raise SystemExit(f"error: {path} is a folder; pass a model file in it, such as a run folder's "
                         f"checkpoint_best.npz")
    suffix = os.path.splitext(path)[1].lower()
    if suffix in CHECKPOINT_SUFFIXES:
        from ..nn.loading import load_checkpoint

        try:
            return load_checkpoint(path), None
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
            raise SystemExit(f"error: {path} is not a scratchconv checkpoint ({_one_line(error)})") from None
    if suffix in KERAS_SUFFIXES:
        if suffix == ".keras" and not zipfile.is_zipfile(path):  # Keras would say "File not found"
            raise SystemExit(f"error: {path} is not a saved Keras model (a .keras file is a zip archive)")
        from .._tensorflow import import_keras
        from ..nn.loading import from_keras

        try:
            keras = import_keras()
        except ImportError as error:
            raise SystemExit(f"error: reading a Keras model needs TensorFlow and Keras ({error})") from None
        try:
            keras_model = keras.models.load_model(path)
        except Exception as error:  # noqa: BLE001 - whatever Keras raises on a file it cannot read
            raise SystemExit(f"error: {path}: Keras cannot load it ({type(error).__name__}: "
                             f"{_one_line(error)})") from None
        try:
            return from_keras(keras_model), keras_model
        except ValueError as error:  # from_keras lists every layer and argument it cannot hold
            raise SystemExit(f"error: {path}: {error}") from None
    raise SystemExit(f"error: {path}: MODEL must be a scratchconv checkpoint ({', '.join(CHECKPOINT_SUFFIXES)}) "
                     f"or a saved Keras model ({', '.join(KERAS_SUFFIXES)}), e.g. a run folder's checkpoint_best.npz")


def _fits(model_shape, data_shape):
    """True when the model's (None, ...) input shape takes data of ``data_shape`` (None: any size)."""
    return len(model_shape) == len(data_shape) and all(
        m is None or d is None or m == d for m, d in zip(model_shape[1:], data_shape[1:]))


def _shape(shape):
    return "(" + ", ".join("None" if v is None else str(v) for v in shape) + ")"


def check_model_fits(model, data_shape, n_classes, hint=""):
    """The model must take ``data_shape`` (None, H, W, C) and give ``n_classes`` outputs."""
    if not _fits(tuple(model.input_shape), data_shape):
        raise SystemExit(f"error: the model takes inputs of shape {_shape(model.input_shape)}, the data are "
                         f"{_shape(data_shape)}{hint}")
    if model.output_shape[-1] != n_classes:
        raise SystemExit(f"error: the model gives {model.output_shape[-1]} outputs (shape "
                         f"{_shape(model.output_shape)}), the data have {n_classes} classes")


def compile_for(model, labels):
    """Makes the model's loss fit the data's ``labels`` ('integer' or 'one-hot'), with accuracy."""
    loss = LOSS_FOR[labels]
    if model.loss is None:
        print(f"the model has no compiled loss that scratchconv has: evaluating with {loss}, the cross-entropy "
              f"for {labels} labels")
        model.compile("sgd", loss, ["accuracy"])  # the optimizer is never used
    elif model.loss.name != loss:
        print(f"the model was compiled with {model.loss.name}; evaluating with {loss}, the same cross-entropy "
              f"for {labels} labels")
        model.compile(model.optimizer, loss, ["accuracy"])
    elif not model.metrics:
        model.compile(model.optimizer, model.loss, ["accuracy"])


# --------------------------------------------------------------------------- the data
def fashion_mnist_test(data_dir, limit):
    """``(x, y, line)``: the standardised test images (N, 28, 28, 1) float32, labels (N,), what they are."""
    from ..data import DatasetError, load_fashion_mnist, split_and_standardize

    try:
        ((x_train_all, y_train_all), (x_test, y_test)), source = load_fashion_mnist(data_dir, return_source=True)
    except DatasetError as error:
        raise SystemExit(f"error: {error}") from None
    data = split_and_standardize(x_train_all, y_train_all, x_test, y_test, n_valid=5000)
    x, y = data.x_test[:limit], data.y_test[:limit]  # (N, 28, 28, 1), (N,)
    of = f" (the first {len(x):,} of {len(data.x_test):,})" if len(x) < len(data.x_test) else ""
    line = (f"data: Fashion-MNIST test set from {source}, {len(x):,} images 28x28x1{of}, standardised as the "
            f"training does: (pixel - {data.mean:.2f}) / {data.std:.2f}, the mean and std of the "
            f"{len(data.x_train):,} training images after the 5,000-image validation split; integer labels 0-9")
    return x, y, line


def monkeys_validation(layout, image_size, batch_size, seed, limit):
    """``(x, y, line)``: the validation images (N, H, W, 3) float32 in 0..1, one-hot labels (N, classes),
    prepared as ``monkey_iterators`` prepares its validation iterator (``layout``: check_monkey_layout's)."""
    from ..data import DatasetError, ImageDataGenerator

    labels, _, valid_dir = layout
    try:
        validation = ImageDataGenerator(rescale=1 / 255).flow_from_directory(
            valid_dir, target_size=tuple(image_size), classes=[row[0] for row in labels], class_mode="categorical",
            batch_size=batch_size, shuffle=False, seed=seed, limit=limit, verbose=False)
        try:
            batches = [validation[i] for i in range(len(validation))]
        finally:
            validation.close()
    except DatasetError as error:
        raise SystemExit(f"error: {error}") from None
    x = np.concatenate([b[0] for b in batches])  # (N, H, W, 3)
    y = np.concatenate([b[1] for b in batches])  # (N, classes)
    subset = (f", a random subset drawn from seed {seed} (as train monkeys --limit {limit} --seed {seed})"
              if limit else "")
    skipped = f"; {len(validation.skipped)} files without an image extension skipped" if validation.skipped else ""
    line = (f"data: 10 Monkey Species validation set {valid_dir}, {len(x):,} images in {len(labels)} classes{subset}, "
            f"resized to {image_size[0]}x{image_size[1]}x3 ('nearest'), rescaled by 1/255 to 0..1, not augmented, "
            f"as train monkeys validates; one-hot labels{skipped}")
    return x, y, line


def _monkeys_layout(data_dir):
    from ..data import DatasetError, check_monkey_layout

    try:
        return check_monkey_layout(data_dir)
    except DatasetError as error:
        raise SystemExit(f"error: {error}") from None


def _monkeys_size(model, image_size):
    """--image-size, else the model's input (H, W), else the article's 128x128."""
    from ..data.monkeys import IMAGE_SIZE

    if image_size is not None:
        return list(image_size)
    shape = tuple(model.input_shape)
    if len(shape) == 4 and shape[1] is not None and shape[2] is not None:
        return [int(shape[1]), int(shape[2])]
    return list(IMAGE_SIZE)


# --------------------------------------------------------------------------- the command
def _check_arguments(args):
    positive(args.batch_size, "--batch-size")
    positive(args.limit, "--limit")
    if args.data == "monkeys" and args.data_dir is None:
        raise SystemExit("error: --data monkeys needs --data-dir DIR, Kaggle's 10-monkey-species folder")
    if args.data != "monkeys" and args.image_size is not None:
        raise SystemExit("error: --image-size is for --data monkeys (Fashion-MNIST is 28x28)")
    if args.compare_keras and not args.model.lower().endswith(KERAS_SUFFIXES):
        raise SystemExit(f"error: --compare-keras needs a saved Keras model ({', '.join(KERAS_SUFFIXES)})")


def run(args):
    _check_arguments(args)
    path = args.model
    model, keras_model = load_model(path)
    if args.data == "fashion-mnist":
        check_model_fits(model, (None, 28, 28, 1), 10)
        x, y, line = fashion_mnist_test(args.data_dir, args.limit)
        labels, split = "integer", "test"
    else:
        layout = _monkeys_layout(args.data_dir)
        size = _monkeys_size(model, args.image_size)
        check_model_fits(model, (None, size[0], size[1], 3), len(layout[0]),
                         "" if args.image_size is None else " (--image-size)")
        x, y, line = monkeys_validation(layout, size, args.batch_size, args.seed, args.limit)
        labels, split = "one-hot", "validation"
    print(line)
    compile_for(model, labels)
    loss, accuracy = model.evaluate(x, y, batch_size=args.batch_size, verbose=0)[:2]
    print(f"{path}: {split} loss {loss:.4f}, {split} accuracy {accuracy:.4f} ({len(x)} images, scratchconv)")
    if args.compare_keras:
        compare_with_keras(keras_model, model, x, y if labels == "integer" else y.argmax(-1), args.batch_size, split)


def compare_with_keras(keras_model, model, x, classes, batch_size, split):
    """Keras's predictions beside scratchconv's, for the same saved model and images."""
    p_keras = keras_model.predict(x, batch_size=batch_size, verbose=0)  # (N, classes)
    p_ours = model.predict(x, batch_size=batch_size, verbose=0)  # (N, classes)
    keras_accuracy = float(np.mean(p_keras.argmax(-1) == classes))
    ours_accuracy = float(np.mean(p_ours.argmax(-1) == classes))
    print(f"Keras: {split} accuracy {keras_accuracy:.4f}; scratchconv {ours_accuracy:.4f}; "
          f"max |p_scratchconv - p_keras| = {np.abs(p_ours - p_keras).max():.2e}; "
          f"predicted classes differ on {int(np.sum(p_ours.argmax(-1) != p_keras.argmax(-1)))} images")
