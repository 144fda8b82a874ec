"""The ``scratchconv`` command.

    scratchconv tour                      the article's worked example, checked against Keras
    scratchconv params ...                count the parameters of a layer you describe
    scratchconv bench ...                 time every kernel against TensorFlow
    scratchconv train fashion-mnist ...   train the article's Fashion-MNIST network on scratchconv's kernels
    scratchconv train monkeys ...         train its 10 Monkey Species CNN, with its augmentation
    scratchconv evaluate MODEL ...        a checkpoint or Keras model on the test (monkeys: validation) set

Each subcommand lives in its own module, which provides ``add_arguments(parser)``
and ``run(args)``; modules are imported only when their subcommand runs, so
``scratchconv tour`` does not pay for TensorFlow or matplotlib unless it needs them.
"""

import argparse
import importlib
import sys

# (subcommand, module, add_arguments function, run function, one-line help)
COMMANDS = [
    ("tour", "scratchconv.cli.tour", "add_arguments", "run", "walk the article's worked example, checked against Keras"),
    ("params", "scratchconv.cli.params", "add_arguments", "run", "count the parameters of a layer you describe"),
    ("bench", "scratchconv.bench", "add_arguments", "run", "benchmark every kernel against TensorFlow"),
    ("train", "scratchconv.cli.train", "add_train_arguments", "run_train", "train one of the article's networks from scratch"),
    ("evaluate", "scratchconv.cli.evaluate", "add_arguments", "run", "evaluate a saved model on Fashion-MNIST or the monkeys"),
]


def build_parser(argv):
    parser = argparse.ArgumentParser(
        prog="scratchconv",
        description="Convolution from scratch in NumPy and Numba, proven equal to Keras.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, module, add, run, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported (and so only it can fail to import).
        if name == wanted:
            mod = importlib.import_module(module)
            getattr(mod, add)(p)
            p.set_defaults(_run=getattr(mod, run))
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    result = args._run(args)
    return 0 if result is None else int(result)


if __name__ == "__main__":
    sys.exit(main())
