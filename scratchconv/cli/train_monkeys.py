"""``scratchconv train monkeys``: the article's 10 Monkey Species training on scratchconv's kernels.

    scratchconv train monkeys --data-dir DIR [--model standard|separable] [--epochs 10]
        [--batch-size 64] [--image-size 128] [--limit N] [--seed 7] [--out DIR]
        [--init-from MODEL.keras] [--resume] [--verbose 1]

DIR has Kaggle's layout (``scratchconv.data.monkeys``): ``monkey_labels.txt``,
``training/training/n0..n9``, ``validation/validation/n0..n9``. The article's pipeline, with
scratchconv's ``ImageDataGenerator`` (``scratchconv.data.monkey_iterators``):

    train = ImageDataGenerator(rescale=1/255, rotation_range=40, width_shift_range=0.2,
                height_shift_range=0.2, shear_range=0.2, zoom_range=0.2, horizontal_flip=True,
                fill_mode='nearest').flow_from_directory(DIR/training/training, target_size=(128, 128),
                batch_size=64, class_mode='categorical', seed=7)
    valid = ImageDataGenerator(rescale=1/255).flow_from_directory(DIR/validation/validation, ...,
                shuffle=False)
    model = monkeys_model('standard')      # 4,482,730 parameters; 'separable': 4,231,658
    model.compile('adam', 'categorical_crossentropy', ['accuracy'])
    model.fit(train, validation_data=valid, epochs=10, callbacks=[EarlyStopping(patience=5,
              min_delta=1e-3), best-only checkpoint on val_loss, ...])

Each epoch is one pass over every training image (``len(train)`` batches, the last one smaller),
as ``reference/monkeys.py`` does; the article's ``fit_generator`` took ``n_train // 64`` steps.
There is no test set: the final evaluation is on the validation set. The run folder is
``run_folder.py``'s (default ``runs/monkeys_<model>``); ``--resume`` continues a run exactly (the
iterators' batches depend only on the seed and the epoch). A folder that does not fit, or an
unreadable image, is an ``error:`` line naming it; files without an image extension are skipped
and counted.
"""

import os

from ..data import DatasetError, monkey_iterators
from ..data.monkeys import IMAGE_SIZE
from ..nn.networks import KINDS, monkeys_model
from ..params import monkeys_table, total_params
from . import run_folder
from .run_folder import positive

RESUMED_SETTINGS = ("model", "batch_size", "image_size", "limit", "seed", "init_from")


def _image_size(text):
    """'128' -> [128, 128]; '96x128' -> [96, 128] (height x width)."""
    import argparse

    try:
        size = [int(v) for v in text.lower().split("x")]
    except ValueError:
        size = []
    if len(size) == 1:
        size *= 2
    if len(size) != 2 or min(size) < 8:
        raise argparse.ArgumentTypeError(f"--image-size must be N or HxW, at least 8 pixels (three 2x2 poolings), "
                                         f"got {text!r}")
    return size


def add_arguments(parser):
    parser.add_argument("--data-dir", required=True, metavar="DIR",
                        help="Kaggle's 10-monkey-species folder (with monkey_labels.txt, training/, validation/)")
    parser.add_argument("--model", choices=KINDS, default="standard",
                        help="standard (the article's Conv2D network, 4,482,730 parameters) or separable "
                             "(SeparableConv2D after the first layer, 4,231,658)")
    parser.add_argument("--epochs", type=int, default=10, help="number of epochs (default 10, as the article)")
    parser.add_argument("--batch-size", type=int, default=64, help="batch size (default 64, as the article)")
    parser.add_argument("--image-size", type=_image_size, default=list(IMAGE_SIZE), metavar="N|HxW",
                        help="images are resized to this (default 128, the article's 128x128)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="at most N images of each split: a fixed random subset drawn from --seed (a quick run)")
    parser.add_argument("--out", default=None, metavar="DIR", help="run folder (default runs/monkeys_<model>)")
    parser.add_argument("--seed", type=int, default=7,
                        help="seed of the initial weights, the shuffling and the augmentation (default 7, the "
                             "article's flow_from_directory seed)")
    run_folder.add_run_arguments(parser)


def _check_keras_start(model, image_size, n_classes, path):
    """--init-from: the Keras model must take the images and give one output per class."""
    if tuple(model.input_shape[1:]) != (*image_size, 3) or model.output_shape[-1] != n_classes:
        raise SystemExit(f"error: --init-from {path}: the model takes {model.input_shape} and gives "
                         f"{model.output_shape}; this run needs (None, {image_size[0]}, {image_size[1]}, 3) "
                         f"images and {n_classes} classes")


def run(args, iterators=None):
    """The training of ``scratchconv train monkeys`` (args: ``add_arguments``'s options).

    iterators: None for scratchconv's own pipeline (``monkey_iterators``), or a callable
    ``iterators(settings) -> (train, validation, labels)`` that makes the batches instead, in the
    shape ``monkey_iterators`` returns them (labels ``[(label, latin_name, common_name), ...]``);
    ``python -m scratchconv.nn.compare --scratchconv-pipeline keras`` passes Keras's own iterators,
    so that scratchconv trains on Keras's very batches. Such a run's metrics.json command cannot
    repeat it alone, and says so.
    """
    for value, option in ((args.epochs, "--epochs"), (args.batch_size, "--batch-size"), (args.limit, "--limit")):
        positive(value, option)
    out = args.out or os.path.join("runs", f"monkeys_{args.model}")
    settings = run_folder.start_run(out, {key: getattr(args, key) for key in RESUMED_SETTINGS}, args.resume)
    try:
        if iterators is None:
            train, validation, labels = monkey_iterators(
                args.data_dir, settings["image_size"], settings["batch_size"], settings["seed"], settings["limit"])
        else:
            train, validation, labels = iterators(settings)
    except DatasetError as error:
        raise SystemExit(f"error: {error}") from None
    names = [f"{label} ({common})" if common else label for label, _, common in labels]
    print(f"{len(labels)} classes: {', '.join(names)}")
    print(f"{train.samples} training images ({len(train)} batches of up to {settings['batch_size']}, augmented), "
          f"{validation.samples} validation images")
    size, n_classes = settings["image_size"], len(labels)
    counts = {kind: total_params(monkeys_table(kind, size, n_classes)) for kind in ("standard", "separable")}
    print(f"parameters at {size[0]}x{size[1]}, {n_classes} classes: standard {counts['standard']:,}, "
          f"separable {counts['separable']:,}; training the {settings['model']} network")
    if args.resume:
        model = run_folder.resumed_model(out, args.epochs)
    else:
        model = run_folder.initial_model(
            out, settings, lambda: monkeys_model(settings["model"], seed=settings["seed"], num_classes=n_classes,
                                                 image_size=tuple(size)), "adam", "categorical_crossentropy",
            check=lambda m: _check_keras_start(m, size, n_classes, settings["init_from"]))

    def plot(history, path):
        from ..nn.plots import plot_side_by_side

        plot_side_by_side({"scratchconv": history}, path,
                          title=f"10 Monkey Species, {settings['model']} network (scratchconv)")

    command = run_folder.command_line(["train", "monkeys"], {
        "data_dir": args.data_dir, **settings, "epochs": args.epochs, "out": out})
    if iterators is not None:  # still one shell line: the note is a comment
        command += "  # batches from the caller's iterators, not scratchconv's: this line alone does not repeat it"
    try:
        run_folder.train_and_report(
            model, out, settings, epochs=args.epochs, verbose=args.verbose, resume=args.resume, plot=plot,
            split="validation", fit_args=dict(x=train, validation_data=validation),
            evaluate=lambda m: m.evaluate(validation, verbose=0), samples=train.samples, command=command)
    except DatasetError as error:  # an image that stopped decoding while the run went on
        raise SystemExit(f"error: {error}") from None
    finally:
        for source in (train, validation):  # Keras's legacy iterators have no close()
            if hasattr(source, "close"):
                source.close()
