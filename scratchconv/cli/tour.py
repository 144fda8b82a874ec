"""``scratchconv tour``: the article's worked example, end to end.

A 5x5x3 image, a 3x3 standard convolution with 4 output maps, and the same job
done by a depthwise (3x3x3) + pointwise (1x1x3x4) pair:

1. the parameter formulas with their numbers (108 vs 27 + 12 = 39);
2. the output shapes with 'same' (5x5x4) and 'valid' (3x3x4) padding;
3. forward and backward through the loop-by-loop and the Numba versions, and
   the largest difference between them;
4. when TensorFlow is installed, the same through Keras layers holding the same
   weights, and the largest difference to Keras;
5. the article's Fashion-MNIST network, standard vs separable, layer by layer.
"""

import os
import time

import numpy as np

import scratchconv
from scratchconv import naive, params

H, W, C, F, K = 5, 5, 3, 4, 3  # the article's example: 5x5x3 image, 3x3 kernels, 4 maps


def add_arguments(parser):
    parser.add_argument("--seed", type=int, default=0, help="seed of the random image and weights (default 0)")
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], default="float32", help="dtype of every array (default float32)"
    )
    parser.add_argument("--no-keras", action="store_true", help="skip the comparison with Keras")


def max_abs_diff(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) if np.size(a) else 0.0


def worked_example_weights(seed, dtype):
    """The image, the weights and an upstream gradient for each output shape."""
    rng = np.random.default_rng(seed)
    w = {
        "x": rng.standard_normal((1, H, W, C)),  # (1, 5, 5, 3) one image
        "kernel": rng.standard_normal((K, K, C, F)),  # (3, 3, 3, 4) standard kernel
        "bias": rng.standard_normal(F),  # (4,)
        "depthwise": rng.standard_normal((K, K, C, 1)),  # (3, 3, 3, 1) one 3x3 kernel per channel
        "pointwise": rng.standard_normal((1, 1, C, F)),  # (1, 1, 3, 4)
    }
    return {name: a.astype(dtype) for name, a in w.items()}


def run_ours(w, padding, rng):
    """Forward and backward of both ways, naive and fast. Returns {name: (outputs, gradients)}."""
    results = {}
    for impl_name, impl in (("naive", naive), ("numba", scratchconv)):
        y_std = impl.conv2d(w["x"], w["kernel"], w["bias"], padding=padding)  # (1, H_out, W_out, 4)
        y_sep = impl.separable_conv2d(w["x"], w["depthwise"], w["pointwise"], w["bias"], padding=padding)
        results[impl_name] = {"standard": y_std, "separable": y_sep}
    dy = rng.standard_normal(results["naive"]["standard"].shape).astype(w["x"].dtype)  # (1, H_out, W_out, 4)
    for impl_name, impl in (("naive", naive), ("numba", scratchconv)):
        results[impl_name]["standard_grads"] = impl.conv2d_backward(dy, w["x"], w["kernel"], w["bias"], padding=padding)
        results[impl_name]["separable_grads"] = impl.separable_conv2d_backward(
            dy, w["x"], w["depthwise"], w["pointwise"], w["bias"], padding=padding
        )
    return results, dy


def run_keras(w, padding, dy):
    """The same forward and backward through Keras layers with identical weights."""
    from .._tensorflow import import_keras, import_tensorflow

    tf, keras = import_tensorflow(), import_keras()

    dtype = w["x"].dtype.name
    standard = keras.layers.Conv2D(F, K, padding=padding, dtype=dtype)
    separable = keras.layers.SeparableConv2D(F, K, padding=padding, dtype=dtype)
    standard.build((None, H, W, C))
    separable.build((None, H, W, C))
    standard.set_weights([w["kernel"], w["bias"]])
    separable.set_weights([w["depthwise"], w["pointwise"], w["bias"]])
    out = {}
    for name, layer in (("standard", standard), ("separable", separable)):
        x = tf.constant(w["x"])
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * dy)  # so that dL/dy = dy
        grads = tape.gradient(loss, [x, *layer.trainable_weights])
        out[name] = np.asarray(y)
        out[name + "_grads"] = tuple(np.asarray(g) for g in grads)
    return out


def print_formulas():
    std = params.conv2d_params(K, K, C, F, use_bias=False)
    dw = params.depthwise_params(K, K, C, 1, use_bias=False)
    pw = params.pointwise_params(C, F, use_bias=False)
    print("Parameters (weights only, as in the article):")
    print(f"  standard   N_std       = {F} x {K} x {K} x {C} = {std}")
    print(f"  depthwise  N_depthwise = {K} x {K} x {C}     = {dw}")
    print(f"  pointwise  N_pointwise = 1 x 1 x {C} x {F} = {pw}")
    print(f"  separable  N_separable = {dw} + {pw}       = {dw + pw}   ({dw + pw}/{std} = {(dw + pw) / std:.2f} of standard)")
    print("With one bias per output map (what Keras's count_params() counts):")
    print(
        f"  standard {params.conv2d_params(K, K, C, F)}, "
        f"separable {params.separable_params(K, K, C, F, 1)} (the bias follows the pointwise step)"
    )


def main_tour(seed=0, dtype="float32", keras_check=True):
    rng = np.random.default_rng(seed + 1)
    w = worked_example_weights(seed, np.dtype(dtype))
    print(f"The article's worked example: one {H}x{W}x{C} image, 3x3 kernels, {F} output maps ({dtype}).\n")
    print_formulas()

    have_tf = False
    if keras_check:
        from .._tensorflow import import_keras

        try:
            import_keras()  # quietly: TensorFlow's start-up noise is filtered out of stderr
            have_tf = True
        except ImportError:
            pass

    worst = 0.0
    for padding in ("same", "valid"):
        t0 = time.perf_counter()
        ours, dy = run_ours(w, padding, rng)
        seconds = time.perf_counter() - t0
        y = ours["numba"]
        print(f"\npadding='{padding}':")
        print(f"  standard  {w['x'].shape[1:]} -> {y['standard'].shape[1:]}")
        print(f"  depthwise {w['x'].shape[1:]} -> {scratchconv.depthwise_conv2d(w['x'], w['depthwise'], padding=padding).shape[1:]}")
        print(f"  pointwise -> {y['separable'].shape[1:]}  (separable = depthwise then pointwise)")
        names = {
            "standard_grads": ("dx", "dkernel", "dbias"),
            "separable_grads": ("dx", "ddepthwise", "dpointwise", "dbias"),
        }
        print(f"  naive vs Numba, max |difference| ({seconds:.2f} s incl. any Numba compile):")
        for kind in ("standard", "separable"):
            diffs = [max_abs_diff(ours["naive"][kind], y[kind])]
            diffs += [max_abs_diff(a, b) for a, b in zip(ours["naive"][kind + "_grads"], y[kind + "_grads"])]
            cols = ", ".join(f"{n} {d:.1e}" for n, d in zip(("y",) + names[kind + "_grads"], diffs))
            print(f"    {kind:<9} {cols}")
            worst = max(worst, *diffs)
        if have_tf:
            keras_out = run_keras(w, padding, dy)
            print("  Numba vs Keras (tf.GradientTape for the gradients), max |difference|:")
            for kind in ("standard", "separable"):
                diffs = [max_abs_diff(keras_out[kind], y[kind])]
                diffs += [max_abs_diff(a, b) for a, b in zip(keras_out[kind + "_grads"], y[kind + "_grads"])]
                cols = ", ".join(f"{n} {d:.1e}" for n, d in zip(("y",) + names[kind + "_grads"], diffs))
                print(f"    {kind:<9} {cols}")
                worst = max(worst, *diffs)
    if keras_check and not have_tf:
        print(
            "\nTensorFlow is not installed, so the Keras comparison was skipped.\n"
            "Enable it with:  pip install 'scratchconv[keras]'   (or: pip install tensorflow)"
        )

    print("\nThe article's Fashion-MNIST network, Conv2D everywhere vs SeparableConv2D:\n")
    print(params.format_comparison(params.fashion_mnist_table("standard"), params.fashion_mnist_table("separable")))
    tolerance = 1e-4 if np.dtype(dtype) == np.float32 else 1e-10
    ok = worst <= tolerance
    print(f"\nLargest difference anywhere: {worst:.1e} ({'OK' if ok else 'TOO LARGE'}, tolerance {tolerance:.0e}).")
    return 0 if ok else 1


def run(args):
    # The Keras check runs on the CPU: a GPU's TF32 convolutions would differ from float32 by ~1e-3.
    # (Only if TensorFlow is not loaded yet.)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")
    return main_tour(seed=args.seed, dtype=args.dtype, keras_check=not args.no_keras)


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(prog="python -m scratchconv.tour")
    add_arguments(p)
    raise SystemExit(run(p.parse_args()))
