"""TensorFlow's side of ``scratchconv bench``: the same layers as ``tf.nn`` ops under ``tf.function``.

TensorFlow is optional: nothing here imports it until ``load_tensorflow`` is called, and that
returns None (with the reason) when it is not installed.

What TF runs for each kind (the ops Keras's layers call), bias added with ``tf.nn.bias_add``:

    standard   tf.nn.conv2d(x, kernel, strides, padding, dilations)
    depthwise  tf.nn.depthwise_conv2d(x, depthwise_kernel, strides, padding, dilations)
    pointwise  tf.nn.conv2d(x, kernel (1, 1, C, F), 1, 'VALID')
    separable  tf.nn.separable_conv2d(x, depthwise_kernel, pointwise_kernel, strides, padding, dilations)

forward+backward is one ``tf.function`` that runs the forward under a ``tf.GradientTape`` and
returns y together with the gradients for x, every weight and the bias (given dy as
``output_gradients``); y is returned so that the forward cannot be pruned from the graph.

Threads: TF is given ``intra_op`` = the Numba thread count (scratchconv's kernels use that many;
``--threads N`` sets Numba, OpenBLAS and TF to N together), and ``inter_op`` = 1, so TF runs one
op at a time on the same number of threads as scratchconv: both sides see the same cores and
neither is oversubscribed. (TF's default, inter_op = intra_op = one per core, lets two ops of the
backward graph run at once, each on every core: up to 2x the cores' threads.) Measured, two
alternating runs each (``--tf-inter-op 0`` is TF's default): TF's fastest calls did not change,
standard 14x14x64->64 forward+backward 10.0-10.1 ms (inter-op 1) vs 10.1-11.4 ms (default),
separable 14x14x64->64 4.1-4.2 vs 3.9-4.1 ms.
"""

import time

INSTALL_HINT = "install TensorFlow (pip install 'scratchconv[keras]') to get the time ratios against TF"


def load_tensorflow(intra_op, inter_op):
    """Import TF with the given thread pools. Returns (tf, None) or (None, reason)."""
    from .._tensorflow import import_tensorflow

    try:
        tf = import_tensorflow()  # TensorFlow's start-up noise filtered out of stderr
    except ImportError as error:
        return None, f"TensorFlow is not installed ({error}); {INSTALL_HINT}"
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        pass  # TF's runtime already started in this process (e.g. under pytest): report what it has
    return tf, None


def thread_settings(tf):
    """(intra_op, inter_op) as TF reports them; 0 means TF's default (one per core)."""
    return (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads())


def make_tf_calls(tf, spec, arrays):
    """(forward(), forward_backward()) running the layer in TF on tensors made once from ``arrays``.

    Raises whatever TF raises when its kernels cannot run the layer (e.g. depthwise with strides
    and dilation both > 1); the caller reports it.
    """
    from .shapes import weight_names

    x = tf.constant(arrays["x"])  # (N, H, W, C)
    dy = tf.constant(arrays["dy"])  # (N, H_out, W_out, F or C*M)
    weights = [tf.constant(arrays[name]) for name in weight_names(spec.kind)]
    strides = [1, spec.sh, spec.sw, 1]
    padding = spec.padding.upper()

    def layer(x, *weights):
        *kernels, bias = weights
        if spec.kind in ("standard", "pointwise"):
            y = tf.nn.conv2d(x, kernels[0], strides, padding, dilations=[1, spec.dh, spec.dw, 1])
        elif spec.kind == "depthwise":
            y = tf.nn.depthwise_conv2d(x, kernels[0], strides, padding, dilations=[spec.dh, spec.dw])
        else:
            y = tf.nn.separable_conv2d(x, kernels[0], kernels[1], strides, padding, dilations=[spec.dh, spec.dw])
        return tf.nn.bias_add(y, bias)

    forward = tf.function(layer)

    @tf.function
    def forward_backward(x, dy, *weights):
        with tf.GradientTape() as tape:
            tape.watch([x, *weights])
            y = layer(x, *weights)
        return (y, *tape.gradient(y, [x, *weights], output_gradients=dy))

    def run_forward():
        return forward(x, *weights)

    def run_forward_backward():
        return forward_backward(x, dy, *weights)

    return run_forward, run_forward_backward


def call_overhead_ms(tf, calls=200):
    """Median time of a tf.function call that does almost nothing: TF's fixed cost per call."""
    tiny = tf.constant([1.0])
    double = tf.function(lambda t: t * 2.0)
    double(tiny)  # trace
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        double(tiny)
        times.append(time.perf_counter() - start)
    times.sort()
    return 1e3 * times[len(times) // 2]


def matmul_gflops(tf, n, dtype, repeats):
    """Best GFLOP/s of ``repeats`` n x n x n tf.matmul calls under tf.function (2 n^3 FLOPs)."""
    a = tf.random.normal((n, n), dtype=dtype)
    matmul = tf.function(lambda p, q: tf.matmul(p, q))
    matmul(a, a)  # trace and warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, a)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9
