"""The 10 Monkey Species side of ``python -m scratchconv.nn.compare --data monkeys --data-dir DIR``.

1. Keras (``reference.monkeys``: its network, compile, pipeline and ``train_and_report``) builds
   the network with seeded initial weights, saves them as ``initial.keras`` and trains:
   ``<out>/keras/``. Its pipeline is ``--augmentation legacy`` (default: the article's
   ``ImageDataGenerator``, which scratchconv's reproduces) or ``layers`` (Keras 3's preprocessing
   layers).
2. scratchconv trains the same network from ``initial.keras`` with the same settings
   (``scratchconv train monkeys --init-from``): ``<out>/scratchconv/``. Its batches come from
   ``--scratchconv-pipeline scratchconv`` (default: scratchconv's own ``ImageDataGenerator``,
   ``scratchconv.data.monkey_iterators``) or ``keras`` (the very iterators Keras trains on,
   ``reference.monkeys.legacy_iterators``, made after ``keras.utils.set_random_seed(seed)`` as in
   step 1 and moved past the batches Keras's ``fit`` makes before its first epoch; needs
   ``--augmentation legacy``).
3. Keras's best checkpoint is loaded into scratchconv (``from_keras``) and both predict the
   validation images (rescaled, in file order): the largest difference in the probabilities and
   both accuracies.

With scratchconv's pipeline the two trainings draw their shuffling and augmentation from different
random streams, so their curves are two runs of the same experiment from the same start, not the
same numbers. With ``--scratchconv-pipeline keras`` both take Keras's batches, so they differ only
in the library that trains: where the two libraries' accuracies differ, this tells a difference in
the training from one in the data pipeline.
"""

import argparse
import functools
import importlib
import json
import os

import numpy as np


def run_keras(out, args):
    """The reference's training, from seeded weights saved first as ``<out>/initial.keras``."""
    from reference import monkeys
    from reference.outputs import save_model_atomically, train_and_report
    from reference.runtime import keras

    from ..data import DatasetError

    try:
        labels, folders = monkeys.check_layout(args.data_dir)
    except DatasetError as error:
        raise SystemExit(f"error: {error}") from None
    class_names = list(labels["Label"])
    weights_seed = getattr(args, "weights_seed", None)
    keras.utils.set_random_seed(args.seed if weights_seed is None else weights_seed)
    model = monkeys.build_model(len(class_names), kind=args.model)
    monkeys.compile_model(model)
    os.makedirs(out, exist_ok=True)
    save_model_atomically(model, os.path.join(out, "initial.keras"))
    keras.utils.set_random_seed(args.seed)  # the shuffling and augmentation
    make = monkeys.legacy_iterators if args.augmentation == "legacy" else monkeys.make_datasets
    train, validation, n_train, n_validation = make(folders, class_names, batch_size=args.batch_size,
                                                    seed=args.seed, limit=args.limit)
    return train_and_report(
        model, os.path.join(out, "keras"),
        fit_args={"x": train, "validation_data": validation, "shuffle": False},  # the pipeline shuffles
        evaluate_args={"x": validation}, split="validation", epochs=args.epochs, batch_size=args.batch_size,
        verbose=2,
        plots=[("learning_curves.png", ["accuracy", "loss", "val_accuracy", "val_loss"], (0, 2.5), None,
                f"10 Monkey Species, {args.model} network (Keras {keras.__version__}, {args.augmentation})")],
        run_info={"model": args.model, "augmentation": args.augmentation, "limit": args.limit, "seed": args.seed,
                  "weights_seed": weights_seed,
                  "n_train": n_train, "n_validation": n_validation, "initial_weights": "initial.keras"})


def keras_iterators(settings, data_dir):
    """``(train, validation, labels)`` for ``train_monkeys.run``: Keras's legacy ``ImageDataGenerator``
    iterators on ``data_dir``, made as ``run_keras`` makes them (after
    ``keras.utils.set_random_seed(seed)``), so that scratchconv's batches are the ones Keras trains
    on. settings: the run's seed, batch_size, limit and image_size (the legacy iterators make
    128x128 images only)."""
    from reference import monkeys
    from reference.runtime import keras

    from ..data import check_monkey_layout

    if tuple(settings["image_size"]) != monkeys.IMAGE_SIZE:
        raise SystemExit(f"error: Keras's legacy iterators make {monkeys.IMAGE_SIZE} images, the run needs "
                         f"{tuple(settings['image_size'])}")
    labels, train_dir, valid_dir = check_monkey_layout(data_dir)  # [(label, latin, common), ...]
    keras.utils.set_random_seed(settings["seed"])  # the shuffling and augmentation, as run_keras
    train, validation, _, _ = monkeys.legacy_iterators(
        {"training": train_dir, "validation": valid_dir}, [row[0] for row in labels],
        batch_size=settings["batch_size"], seed=settings["seed"], limit=settings["limit"])
    # Keras's fit (TensorFlow backend) first makes the first min(2, len) training batches to learn
    # their shapes (PyDatasetAdapter.get_tf_dataset), then calls on_epoch_end(): its epoch 1 starts
    # after them, with the iterator's batch count (which seeds each batch's augmentation) and order
    # moved on. The same here, so that scratchconv's epochs get Keras's very batches. (Validation
    # needs nothing: it is neither augmented nor shuffled.)
    data_adapter_utils = importlib.import_module("keras.src.trainers.data_adapters.data_adapter_utils")
    for i in range(min(data_adapter_utils.NUM_BATCHES_FOR_TENSOR_SPEC, len(train))):
        train[i]  # made and dropped, as Keras's first look at the batches
    train.on_epoch_end()
    return train, validation, labels


def run_scratchconv(out, args):
    """``scratchconv train monkeys --init-from <out>/initial.keras`` with the same settings; its run.json.

    With ``args.scratchconv_pipeline == "keras"`` its batches come from ``keras_iterators``.
    """
    from ..cli.train import add_train_arguments
    from ..cli.train_monkeys import run

    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    argv = ["monkeys", "--data-dir", args.data_dir, "--model", args.model, "--epochs", str(args.epochs),
            "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--verbose", "2",
            "--out", os.path.join(out, "scratchconv"), "--init-from", os.path.join(out, "initial.keras")]
    argv += ["--limit", str(args.limit)] if args.limit else []
    keras_batches = getattr(args, "scratchconv_pipeline", "scratchconv") == "keras"
    run(parser.parse_args(argv), iterators=functools.partial(keras_iterators, data_dir=args.data_dir)
        if keras_batches else None)
    with open(os.path.join(out, "scratchconv", "run.json")) as f:
        return json.load(f)


def compare_predictions(keras_checkpoint, args):
    """scratchconv (from_keras) vs Keras on the validation images, for one saved Keras model."""
    from .._tensorflow import import_keras
    from ..data import monkey_iterators
    from .loading import from_keras

    _, validation, _ = monkey_iterators(args.data_dir, batch_size=args.batch_size, seed=args.seed,
                                        limit=args.limit, verbose=False)
    batches = [validation[i] for i in range(len(validation))]
    x = np.concatenate([b[0] for b in batches])  # (N, 128, 128, 3), rescaled to 0..1
    labels = np.concatenate([b[1] for b in batches]).argmax(-1)  # (N,)
    p_keras = import_keras().models.load_model(keras_checkpoint).predict(x, batch_size=args.batch_size, verbose=0)
    p_ours = from_keras(keras_checkpoint).predict(x, batch_size=args.batch_size, verbose=0)
    return {"checkpoint": keras_checkpoint, "images": len(labels),
            "max_abs_probability_difference": float(np.abs(p_ours - p_keras).max()),
            "keras_accuracy": float(np.mean(p_keras.argmax(-1) == labels)),
            "scratchconv_accuracy": float(np.mean(p_ours.argmax(-1) == labels)),
            "different_predictions": int(np.sum(p_ours.argmax(-1) != p_keras.argmax(-1)))}
