"""model.summary(): the table Keras 3 prints (layer, output shape, parameters, totals)."""


def readable_size(n_bytes):
    """Keras's readable_memory_size: 736936 -> '719.66 KB' (powers of 1024)."""
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024


def format_summary(model):
    """The summary table of a built Sequential, as one string."""
    rows = [(f"{layer.name} ({type(layer).__name__})", str(tuple(shape)), f"{layer.count_params():,}")
            for layer, shape in zip(model.layers, model.output_shapes)]
    header = ("Layer (type)", "Output Shape", "Param #")
    widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(3)]
    widths = [max(widths[0], 33), max(widths[1], 24), max(widths[2], 15)]

    def line(left, fill, sep, right):
        return left + sep.join(fill * w for w in widths) + right

    def row(cells, edge="│"):
        name, shape, params = cells
        return (f"{edge} {name:<{widths[0] - 2}} {edge} {shape:<{widths[1] - 2}} {edge} "
                f"{params:>{widths[2] - 2}} {edge}")

    out = [f'Model: "{model.name}"', line("┏", "━", "┳", "┓"), row(header, "┃"), line("┡", "━", "╇", "┩")]
    for k, cells in enumerate(rows):
        out.append(row(cells))
        out.append(line("├", "─", "┼", "┤") if k < len(rows) - 1 else line("└", "─", "┴", "┘"))
    total = model.count_params()
    size = readable_size(total * model.dtype.itemsize)
    out += [f" Total params: {total:,} ({size})", f" Trainable params: {total:,} ({size})",
            " Non-trainable params: 0 (0.00 B)"]
    return "\n".join(out)
