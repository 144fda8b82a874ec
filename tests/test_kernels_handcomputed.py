"""Small cases computed by hand (the arithmetic is in the comments), for fast and naive kernels.

Independent of Keras and of our own output: each expected array below can be checked with
pencil and paper. They pin the conventions a newcomer gets wrong: 'same' puts the odd
padding pixel at the bottom/right, dilation spreads the taps, the depthwise output channel
is c*M + m, groups split the channels in contiguous blocks.
"""

import numpy as np
import pytest

import scratchconv
from scratchconv import naive

MODULES = pytest.mark.parametrize("module", [scratchconv, naive], ids=["fast", "naive"])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])

X3 = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
K2 = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)  # [[1, 2], [3, 4]]

# 'valid': y[i, j] = sum_ab K2[a, b] * X3[i + a, j + b]
#   y00 = 1*1 + 2*2 + 3*4 + 4*5 = 37    y01 = 1*2 + 2*3 + 3*5 + 4*6 = 47
#   y10 = 1*4 + 2*5 + 3*7 + 4*8 = 67    y11 = 1*5 + 2*6 + 3*8 + 4*9 = 77
Y3_VALID = np.array([[37.0, 47.0], [67.0, 77.0]])
# 'same': output 3x3, total padding (3-1)*1 + 2 - 3 = 1 per axis, all of it bottom/right:
#   y02 = 1*3 + 3*6 = 21   y12 = 1*6 + 3*9 = 33   y20 = 1*7 + 2*8 = 23   y21 = 1*8 + 2*9 = 26   y22 = 1*9
# (padding at the top/left instead would give y00 = 4*1 = 4.)
Y3_SAME = np.array([[37.0, 47.0, 21.0], [67.0, 77.0, 33.0], [23.0, 26.0, 9.0]])
# Backward of 'valid' with dy = ones:
#   dx[p] = sum of the kernel taps that read p: corners 1, 2, 3, 4; edges 1+2, 1+3, 2+4, 3+4; centre 1+2+3+4
DX3 = np.array([[1.0, 3.0, 2.0], [4.0, 10.0, 6.0], [3.0, 7.0, 4.0]])
#   dK[a, b] = sum of the 2x2 block of x starting at (a, b): 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9
DK2 = np.array([[12.0, 16.0], [24.0, 28.0]])


def _single_channel(kind, module, x, k, **kw):
    """The 1-channel convolution through each kind (depthwise M=1; separable with pointwise [[1]])."""
    if kind == "conv2d":
        return module.conv2d(x, k, **kw)
    if kind == "depthwise":
        return module.depthwise_conv2d(x, k, **kw)
    return module.separable_conv2d(x, k, np.ones((1, 1, 1, 1), x.dtype), **kw)


def _single_channel_backward(kind, module, dy, x, k, bias, **kw):
    if kind == "conv2d":
        return module.conv2d_backward(dy, x, k, bias, **kw)
    if kind == "depthwise":
        return module.depthwise_conv2d_backward(dy, x, k, bias, **kw)
    dx, dk, dpw, db = module.separable_conv2d_backward(dy, x, k, np.ones((1, 1, 1, 1), x.dtype), bias, **kw)
    return dx, dk, db


@MODULES
@DTYPES
@pytest.mark.parametrize("kind", ["conv2d", "depthwise", "separable"])
def test_3x3_input_2x2_kernel(kind, module, dtype):
    x, k = X3.astype(dtype), K2.astype(dtype)
    np.testing.assert_array_equal(_single_channel(kind, module, x, k)[0, :, :, 0], Y3_VALID)
    np.testing.assert_array_equal(_single_channel(kind, module, x, k, padding="same")[0, :, :, 0], Y3_SAME)
    bias = np.array([0.5], dtype)
    dx, dk, db = _single_channel_backward(kind, module, np.ones((1, 2, 2, 1), dtype), x, k, bias)
    np.testing.assert_array_equal(dx[0, :, :, 0], DX3)
    np.testing.assert_array_equal(dk[:, :, 0, 0], DK2)
    np.testing.assert_array_equal(db, [4.0])  # four outputs, each with dy = 1


def _counts(size, k, s, d, pad_before, out):
    """How many taps of a window land inside the input, per output position (ones input, ones kernel)."""
    return np.array([sum(0 <= o * s + a * d - pad_before < size for a in range(k)) for o in range(out)], float)


@MODULES
@pytest.mark.parametrize(
    "size,k,s,d,padding,per_axis",
    [
        # 5 wide, 3x3, stride 2 'same': out 3, padding (3-1)*2 + 3 - 5 = 2 -> 1 top, 1 bottom;
        # windows rows {-1,0,1}, {1,2,3}, {3,4,5} hold 2, 3, 2 input rows.
        (5, 3, 2, 1, "same", [2, 3, 2]),
        # 4 wide, 3x3, stride 2 'same': out 2, padding (2-1)*2 + 3 - 4 = 1 -> all at the bottom;
        # windows {0,1,2} and {2,3,4}: 3 and 2 rows (top padding would give 2 and 3).
        (4, 3, 2, 1, "same", [3, 2]),
        # 5 wide, 3x3, dilation 2 'same': span 5, padding 4 -> 2 and 2;
        # taps {i-2, i, i+2}: 2, 2, 3, 2, 2 inside.
        (5, 3, 1, 2, "same", [2, 2, 3, 2, 2]),
        # 7 wide, 2x2, stride 2 dilation 2 'same': out 4, padding (4-1)*2 + 3 - 7 = 2 -> 1 and 1;
        # taps {2i-1, 2i+1}: 1, 2, 2, 1 inside.
        (7, 2, 2, 2, "same", [1, 2, 2, 1]),
        # 6 wide, 1x1, stride 4 (stride larger than the kernel) 'valid': rows 0 and 4.
        (6, 1, 4, 1, "valid", [1, 1]),
    ],
)
def test_window_counts_with_ones(module, size, k, s, d, padding, per_axis):
    """A ones kernel on a ones input counts the taps inside the input: y = outer(rows, cols)."""
    expected = np.outer(per_axis, per_axis)
    x = np.ones((1, size, size, 1))
    kern = np.ones((k, k, 1, 1))
    pad_before = 0 if padding == "valid" else (len(per_axis) - 1) * s + (k - 1) * d + 1 - size
    pad_before = max(pad_before, 0) // 2
    assert np.array_equal(_counts(size, k, s, d, pad_before, len(per_axis)), per_axis)  # the comments' arithmetic
    for y in (
        module.conv2d(x, kern, strides=s, dilation_rate=d, padding=padding),
        module.depthwise_conv2d(x, kern, strides=s, dilation_rate=d, padding=padding),
        module.separable_conv2d(x, kern, np.ones((1, 1, 1, 1)), strides=s, dilation_rate=d, padding=padding),
    ):
        np.testing.assert_array_equal(y[0, :, :, 0], expected)


@MODULES
def test_dilation_2_valid_reads_every_other_pixel(module):
    # x[r, c] = 5r + c; a 3x3 ones kernel with dilation 2 on 5x5 'valid' reads rows/cols 0, 2, 4:
    # 0 + 2 + 4 + 10 + 12 + 14 + 20 + 22 + 24 = 108.
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    assert module.conv2d(x, np.ones((3, 3, 1, 1)), dilation_rate=2).item() == 108.0
    assert module.depthwise_conv2d(x, np.ones((3, 3, 1, 1)), dilation_rate=2).item() == 108.0


@MODULES
def test_strides_and_dilation_together(module):
    # x[r, c] = 7r + c, 2x2 ones kernel, stride 2, dilation 2, 'valid' on 7x7: out 3x3 and
    # y[i, j] = x[2i, 2j] + x[2i, 2j+2] + x[2i+2, 2j] + x[2i+2, 2j+2] = 56i + 8j + 32.
    x = np.arange(49.0).reshape(1, 7, 7, 1)
    i, j = np.mgrid[0:3, 0:3]
    expected = 56.0 * i + 8.0 * j + 32.0
    kern = np.ones((2, 2, 1, 1))
    np.testing.assert_array_equal(module.conv2d(x, kern, strides=2, dilation_rate=2)[0, :, :, 0], expected)
    np.testing.assert_array_equal(module.depthwise_conv2d(x, kern, strides=2, dilation_rate=2)[0, :, :, 0], expected)


@MODULES
def test_unequal_strides(module):
    # A 1x1 kernel of 2 with strides (1, 2): y = 2 * x[:, every other column].
    x = np.arange(15.0).reshape(1, 3, 5, 1)
    kern = np.full((1, 1, 1, 1), 2.0)
    expected = 2.0 * x[0, :, ::2, 0]  # [[0, 4, 8], [10, 14, 18], [20, 24, 28]]
    np.testing.assert_array_equal(expected, [[0, 4, 8], [10, 14, 18], [20, 24, 28]])
    np.testing.assert_array_equal(module.depthwise_conv2d(x, kern, strides=(1, 2))[0, :, :, 0], expected)
    np.testing.assert_array_equal(module.conv2d(x, kern, strides=(1, 2))[0, :, :, 0], expected)
    np.testing.assert_array_equal(module.separable_conv2d(x, kern, np.ones((1, 1, 1, 1)), strides=(1, 2))[0, :, :, 0], expected)


@MODULES
def test_depthwise_output_channel_is_c_times_m_plus_m(module):
    # One pixel, channels [1, 10]; filters k[c, m]: channel 0 -> [1, 2, 3], channel 1 -> [4, 5, 6].
    # y[c*M + m] = x[c] * k[c, m] = [1, 2, 3, 40, 50, 60] (m-major would interleave: 1, 40, 2, ...).
    x = np.array([1.0, 10.0]).reshape(1, 1, 1, 2)
    k = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).reshape(1, 1, 2, 3)
    bias = np.array([0.0, 0.0, 0.0, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(module.depthwise_conv2d(x, k, bias).ravel(), [1, 2, 3, 40.5, 50.5, 60.5])
    # Backward, dy = [1, 1, 1, 2, 2, 2]: dx[c] = sum_m dy[c*M+m] k[c, m] = [1+2+3, 2*(4+5+6)] = [6, 30];
    # dk[c, m] = dy[c*M+m] * x[c] = [[1, 1, 1], [20, 20, 20]]; dbias = dy.
    dy = np.array([1.0, 1.0, 1.0, 2.0, 2.0, 2.0]).reshape(1, 1, 1, 6)
    dx, dk, db = module.depthwise_conv2d_backward(dy, x, k, bias)
    np.testing.assert_array_equal(dx.ravel(), [6.0, 30.0])
    np.testing.assert_array_equal(dk[0, 0], [[1.0, 1.0, 1.0], [20.0, 20.0, 20.0]])
    np.testing.assert_array_equal(db, dy.ravel())


@MODULES
def test_pointwise_is_a_matrix_product_per_pixel(module):
    # Two pixels [1, 2, 3] and [4, 5, 6]; W = [[1, 0], [0, 1], [1, 1]]; bias [0.5, -1]:
    # y = [[1+3+0.5, 2+3-1], [4+6+0.5, 5+6-1]] = [[4.5, 4], [10.5, 10]].
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).reshape(1, 1, 2, 3)
    w = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).reshape(1, 1, 3, 2)
    bias = np.array([0.5, -1.0])
    np.testing.assert_array_equal(module.pointwise_conv2d(x, w, bias)[0, 0], [[4.5, 4.0], [10.5, 10.0]])
    # dy = ones: dx = row sums of W = [1, 1, 2] at each pixel; dW[c, f] = sum of x[c] over pixels = 5, 7, 9;
    # dbias = number of pixels = 2.
    dx, dw, db = module.pointwise_conv2d_backward(np.ones((1, 1, 2, 2)), x, w, bias)
    np.testing.assert_array_equal(dx[0, 0], [[1.0, 1.0, 2.0], [1.0, 1.0, 2.0]])
    np.testing.assert_array_equal(dw[0, 0], [[5.0, 5.0], [7.0, 7.0], [9.0, 9.0]])
    np.testing.assert_array_equal(db, [2.0, 2.0])


@pytest.mark.parametrize("n, hw, c_in, filters", [(32, 784, 32, 32), (3, 5, 2, 4), (4, 196, 64, 64), (1, 9, 3, 2)])
def test_pointwise_weight_gradient_one_product_or_one_per_image(n, hw, c_in, filters):
    # X^T dY, whether as one product or as a product per image added up (small results), against
    # a float64 sum of the outer products x_p dy_p^T over the pixels.
    from scratchconv.kernels import pointwise

    rng = np.random.default_rng(4)
    x = rng.standard_normal((n * hw, c_in)).astype(np.float32)
    dy = rng.standard_normal((n * hw, filters)).astype(np.float32)
    expected = np.einsum("pc,pf->cf", x.astype(np.float64), dy.astype(np.float64))
    split = n >= 2 and c_in * filters <= pointwise.SPLIT_MAX_RESULT and hw * c_in * filters <= pointwise.SPLIT_MAX_PRODUCT
    assert split == ((n, c_in) in ((32, 32), (3, 2)))  # both ways are exercised
    got = pointwise.weight_gradient(x, dy, n)
    assert got.shape == (c_in, filters) and got.dtype == np.float32
    # float32 sums of n*hw terms of size ~1: BLAS (one product or not) was off by up to 6e-8 * n*hw
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1.5e-7 * n * hw)


@MODULES
def test_groups_split_channels_in_contiguous_blocks(module):
    # Channels [1, 2, 3, 4], groups 2: filter 0 sees channels 0-1 with weights [1, 1] -> 3,
    # filter 1 sees channels 2-3 with weights [1, -1] -> -1.
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 1, 1, 4)
    k = np.array([[1.0, 1.0], [1.0, -1.0]]).reshape(1, 1, 2, 2)  # k[0, 0, c, f]: column f = filter f
    np.testing.assert_array_equal(module.conv2d(x, k, groups=2).ravel(), [3.0, -1.0])
    # dy = [1, 10]: dx = [1*1, 1*1, 10*1, 10*(-1)]; dk[c, f] = dy[f] * x[group(f)*2 + c].
    dx, dk, _ = module.conv2d_backward(np.array([1.0, 10.0]).reshape(1, 1, 1, 2), x, k, groups=2)
    np.testing.assert_array_equal(dx.ravel(), [1.0, 1.0, 10.0, -10.0])
    np.testing.assert_array_equal(dk[0, 0], [[1.0, 30.0], [2.0, 40.0]])


# The article's worked example: a 5x5x3 input (ones), a 3x3x3x4 standard kernel (ones), and the
# depthwise 3x3x3 + pointwise 1x1x3x4 pair (ones). Per axis, a 3-tap window with 'same' padding
# covers [2, 3, 3, 3, 2] input pixels, so the standard 'same' output is 3 channels * outer(...):
# corners 12, edges 18, inside 27; 'valid' keeps the inside (3x3, all 27).
PER_AXIS = np.array([2.0, 3.0, 3.0, 3.0, 2.0])


@MODULES
@DTYPES
def test_article_5x5x3_example(module, dtype):
    x = np.ones((1, 5, 5, 3), dtype)
    standard = np.ones((3, 3, 3, 4), dtype)
    depthwise = np.ones((3, 3, 3, 1), dtype)
    pointwise = np.ones((1, 1, 3, 4), dtype)
    same = 3.0 * np.outer(PER_AXIS, PER_AXIS)  # (5, 5)

    y = module.conv2d(x, standard, padding="same")
    assert y.shape == (1, 5, 5, 4) and y.dtype == dtype
    np.testing.assert_array_equal(y, np.broadcast_to(same[None, :, :, None], (1, 5, 5, 4)))
    y = module.conv2d(x, standard, padding="valid")
    assert y.shape == (1, 3, 3, 4)
    np.testing.assert_array_equal(y, 27.0)

    d = module.depthwise_conv2d(x, depthwise, padding="same")  # (1, 5, 5, 3): corners 4, edges 6, inside 9
    np.testing.assert_array_equal(d, np.broadcast_to(np.outer(PER_AXIS, PER_AXIS)[None, :, :, None], (1, 5, 5, 3)))
    p = module.pointwise_conv2d(d, pointwise)  # sums the 3 channels: the standard result again
    assert p.shape == (1, 5, 5, 4)
    np.testing.assert_array_equal(p, module.conv2d(x, standard, padding="same"))
    s = module.separable_conv2d(x, depthwise, pointwise, padding="valid")
    assert s.shape == (1, 3, 3, 4)
    np.testing.assert_array_equal(s, 27.0)

    # Backward of the standard 'same' convolution with dy = ones (1, 5, 5, 4):
    # dx[p] = 4 filters * (taps that read p and land on an output) = 4 * outer(PER_AXIS, PER_AXIS);
    # dkernel[a, b, c, f] = outputs whose tap (a, b) is inside = outer([4, 5, 4], [4, 5, 4]);
    # dbias = 25 outputs per filter.
    dx, dk, db = module.conv2d_backward(np.ones((1, 5, 5, 4), dtype), x, standard, np.zeros(4, dtype), padding="same")
    np.testing.assert_array_equal(dx, np.broadcast_to(4.0 * np.outer(PER_AXIS, PER_AXIS)[None, :, :, None], (1, 5, 5, 3)))
    taps = np.outer([4.0, 5.0, 4.0], [4.0, 5.0, 4.0])
    np.testing.assert_array_equal(dk, np.broadcast_to(taps[:, :, None, None], (3, 3, 3, 4)))
    np.testing.assert_array_equal(db, [25.0] * 4)
