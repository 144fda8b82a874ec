"""The kernels: one module per kind of convolution, each with its loop-by-loop twin.

    standard.py     conv2d, conv2d_backward            (algorithms: standard_rows.py, standard_im2col.py,
                                                         standard_winograd*.py; standard_taps.py for
                                                         kernels holding Inf/NaN)
    depthwise.py    depthwise_conv2d, ..._backward     (backward kernels: depthwise_backward.py)
    pointwise.py    pointwise_conv2d, ..._backward     (1x1: one matrix product)
    separable.py    separable_conv2d, ..._backward     (depthwise then pointwise)
    pooling.py      max_pool2d, max_pool2d_backward
    average_pooling.py  average_pool2d, average_pool2d_backward   (TF's divisor: the window's real cells)
    batchnorm.py    batch_norm_moments, batch_norm_forward, batch_norm_backward (optionally fused with a
                    following ReLU/ReLU6)
    activations.py  every Keras activation by name, forward and backward; relu and selu fused with the bias
    activations_keras.py  the Numba passes of relu6, Keras's clipped ReLU and GELU, and the NumPy formulas
                    of the other Keras activations
    arguments.py    the argument checks and TensorFlow's padding geometry, shared by all of the above
    numba_config.py the Numba settings (cache, fastmath, threads), in one place

Each kind's file reads in the same order: the loop-by-loop version (``<name>_naive``), the
Numba kernels, the public function (checks, pads, allocates, calls the kernel); the backward
the same way below. ``scratchconv.naive`` gathers the convolutions' loop versions under the
public names; pooling and batch normalisation keep theirs beside their kernels (``*_naive``).
"""
