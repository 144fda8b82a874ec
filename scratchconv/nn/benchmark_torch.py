"""PyTorch's side of ``python -m scratchconv.nn.benchmark``: a scratchconv network rebuilt in torch.nn.

``torch_model(model, torch)`` gives a ``torch.nn.Sequential`` with the same layers and weights, layer
by layer (PyTorch is NCHW; x arrives as NHWC and is permuted to PyTorch's logical layout):

    Conv2D             nn.Conv2d (kernel (kh, kw, C, F) -> (F, C, kh, kw)); 'same' padding that is
                       not symmetric (stride 2 on an even size) as an nn.ZeroPad2d first, the odd
                       pixel at the bottom/right as Keras puts it
    SeparableConv2D    a depthwise nn.Conv2d (groups=C, no bias) and a 1x1 nn.Conv2d
    DepthwiseConv2D    nn.Conv2d with groups=C (kernel (kh, kw, C, M) -> (C*M, 1, kh, kw))
    BatchNormalization nn.BatchNorm2d (PyTorch's momentum = 1 - Keras's)
    ReLU(6.)           nn.ReLU6;  relu/selu activations: nn.ReLU/nn.SELU
    MaxPooling2D       nn.MaxPool2d;  ZeroPadding2D nn.ZeroPad2d;  Dropout nn.Dropout
    GlobalAveragePooling2D   nn.AdaptiveAvgPool2d(1) (+ nn.Flatten without keepdims)
    Flatten, Reshape((n,))   nn.Flatten (the next Dense's rows permuted: Keras flattens (h, w, c))
    Dense              nn.Linear

The last layer's softmax is left out: the output is the logits, for ``CrossEntropyLoss``.
"""

import numpy as np

from .config import layer_config


def _same_padding(size, kernel, stride):
    """Keras's 'same' padding (before, after) along one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv(nn, tensor, config, weights, shape, groups_from_input):
    """[modules] for a Conv2D or DepthwiseConv2D layer (x of NHWC ``shape``)."""
    if tuple(config["dilation_rate"]) != (1, 1):
        raise ValueError("torch_model: dilation 1 only")
    kernel = weights[0]
    kh, kw = kernel.shape[:2]
    (sh, sw), modules = config["strides"], []
    if config["padding"] == "same":
        top, bottom = _same_padding(shape[1], kh, sh)
        left, right = _same_padding(shape[2], kw, sw)
        if (top, left) == (bottom, right):
            padding = (top, left)
        else:
            modules.append(nn.ZeroPad2d((left, right, top, bottom)))
            padding = 0
    else:
        padding = 0
    if groups_from_input:  # depthwise: (kh, kw, C, M) -> (C*M, 1, kh, kw)
        c, m = kernel.shape[2:]
        conv = nn.Conv2d(c, c * m, (kh, kw), (sh, sw), padding, groups=c, bias=config["use_bias"])
        conv.weight = tensor(kernel.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw))
    else:  # (kh, kw, C/groups, F) -> (F, C/groups, kh, kw)
        groups = config.get("groups", 1)
        conv = nn.Conv2d(kernel.shape[2] * groups, kernel.shape[3], (kh, kw), (sh, sw), padding, groups=groups,
                         bias=config["use_bias"])
        conv.weight = tensor(kernel.transpose(3, 2, 0, 1))
    if config["use_bias"]:
        conv.bias = tensor(weights[1])
    return modules + [conv]


def torch_model(model, torch):
    """A ``torch.nn.Sequential`` with the layers and weights of the scratchconv ``model`` (see above)."""
    nn = torch.nn
    activations = {"relu": nn.ReLU, "selu": nn.SELU, "linear": None, None: None}

    def tensor(array):
        return nn.Parameter(torch.from_numpy(np.ascontiguousarray(array)))

    modules, shapes = [], [model.input_shape, *model.output_shapes]
    for index, layer in enumerate(model.layers):
        entry = layer_config(layer)
        name, config, weights, shape = entry["class_name"], entry["config"], layer.get_weights(), shapes[index]
        if name in ("Conv2D", "DepthwiseConv2D"):
            modules += _conv(nn, tensor, config, weights, shape, name == "DepthwiseConv2D")
        elif name == "SeparableConv2D":
            dk, pk, *bias = weights  # (kh, kw, C, M), (1, 1, C*M, F), (F,)
            modules += _conv(nn, tensor, dict(config, use_bias=False), [dk], shape, True)
            pointwise = nn.Conv2d(pk.shape[2], pk.shape[3], 1, bias=config["use_bias"])
            pointwise.weight = tensor(pk.transpose(3, 2, 0, 1))
            if bias:
                pointwise.bias = tensor(bias[0])
            modules.append(pointwise)
        elif name == "BatchNormalization":
            gamma, beta, mean, variance = weights  # MobileNet's: center and scale
            bn = nn.BatchNorm2d(len(mean), eps=config["epsilon"], momentum=1 - config["momentum"])
            bn.weight, bn.bias = tensor(gamma), tensor(beta)
            bn.running_mean.copy_(torch.from_numpy(mean))
            bn.running_var.copy_(torch.from_numpy(variance))
            modules.append(bn)
        elif name == "ReLU":
            if config["negative_slope"] or config["threshold"] or config["max_value"] not in (None, 6.0):
                raise ValueError(f"torch_model: {layer.name}: ReLU() and ReLU(6.) only")
            modules.append(nn.ReLU() if config["max_value"] is None else nn.ReLU6())
        elif name == "ZeroPadding2D":
            (top, bottom), (left, right) = config["padding"]
            modules.append(nn.ZeroPad2d((left, right, top, bottom)))
        elif name == "MaxPooling2D":
            modules.append(nn.MaxPool2d(tuple(config["pool_size"]), tuple(config["strides"])))
        elif name == "GlobalAveragePooling2D":
            modules += [nn.AdaptiveAvgPool2d(1)] + ([] if config["keepdims"] else [nn.Flatten()])
        elif name == "Dropout":
            modules.append(nn.Dropout(config["rate"]))
        elif name in ("Flatten", "Reshape"):
            if name == "Reshape" and len(config["target_shape"]) != 1:
                raise ValueError(f"torch_model: {layer.name}: Reshape to a vector only")
            modules.append(nn.Flatten())  # NCHW order: the next Dense's rows are permuted to match
        elif name == "Dense":
            kernel, bias = weights  # (in, out)
            if index and type(model.layers[index - 1]).__name__ == "Flatten" and len(shapes[index - 1]) == 4:
                h, w, c = shapes[index - 1][1:]  # Keras flattens (h, w, c), PyTorch (c, h, w)
                kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
            linear = nn.Linear(*kernel.shape)
            linear.weight, linear.bias = tensor(kernel.T), tensor(bias)
            modules.append(linear)
        elif name != "Activation":
            raise ValueError(f"torch_model: no PyTorch layer for {name}")
        activation = config.get("activation")
        if activation == "softmax" and index == len(model.layers) - 1:
            continue  # CrossEntropyLoss applies log-softmax to the logits
        if name in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Dense", "Activation"):
            if activation not in activations:
                raise ValueError(f"torch_model: {layer.name}: no PyTorch module for activation {activation!r}")
            if activations[activation] is not None:
                modules.append(activations[activation]())
    return nn.Sequential(*modules)


def torch_trainer(model, optimizer, batch_size, memory_format, torch):
    """fit(x, y, shuffle) for PyTorch: one epoch of ``model`` (a scratchconv network) rebuilt in torch.nn.

    optimizer: 'sgd' (learning rate 0.01) or 'adam' (0.001, epsilon 1e-7 as Keras)."""
    fmt = torch.channels_last if memory_format == "channels_last" else torch.contiguous_format
    net = torch_model(model, torch).to(memory_format=fmt)
    net.train()
    optimizer = (torch.optim.Adam(net.parameters(), lr=0.001, eps=1e-7) if optimizer == "adam"
                 else torch.optim.SGD(net.parameters(), lr=0.01))
    loss_fn = torch.nn.CrossEntropyLoss()

    def fit(xs, ys, shuffle=True):
        images = torch.from_numpy(xs).permute(0, 3, 1, 2)  # (N, C, H, W) view of the NHWC array
        labels = torch.from_numpy(np.asarray(ys, np.int64))
        order = torch.randperm(len(xs)) if shuffle else torch.arange(len(xs))
        correct = 0
        for start in range(0, len(xs), batch_size):
            index = order[start:start + batch_size]
            xb, yb = images[index].contiguous(memory_format=fmt), labels[index]
            optimizer.zero_grad(set_to_none=True)
            logits = net(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            correct += int((logits.detach().argmax(1) == yb).sum())  # accuracy, as Keras's fit computes it
        return correct / len(xs)

    return fit
