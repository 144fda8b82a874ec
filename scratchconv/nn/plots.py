"""Learning curves as PNG files, drawn as the article does and written atomically.

matplotlib (and pandas) are imported only here, when a figure is drawn.
"""

from .._atomic import write_atomically


def _write_png(figure, path):
    write_atomically(path, lambda f: figure.savefig(f, format="png"))


def _figure(ncols=1):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8 * ncols, 5), dpi=80)
    FigureCanvasAgg(figure)
    return figure


def plot_learning_curves(history, path, title=None):
    """The article's plot_learning_curves: pd.DataFrame(history).plot(), grid, y from 0 to 1.

    history: a dict of lists (``History.history``); x is the epoch index 0..n-1.
    """
    import pandas as pd

    figure = _figure()
    ax = figure.add_subplot()
    pd.DataFrame(history).plot(ax=ax)
    ax.grid(True)
    ax.set_ylim(0, 1)
    ax.set_xlabel("epoch (0-based)")
    if title:
        ax.set_title(title)
    _write_png(figure, path)


def plot_side_by_side(histories, path, title=None):
    """Several runs' curves on shared axes: accuracy (left) and loss (right), one colour per series.

    histories: {run label: history dict}; solid lines for training, dashed for validation.
    """
    figure = _figure(ncols=2)
    axes = figure.subplots(1, 2)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for ax, metric in zip(axes, ("accuracy", "loss")):
        for colour, (label, history) in zip(colours, histories.items()):
            for key, style in ((metric, "-"), (f"val_{metric}", "--")):
                if key in history:
                    ax.plot(range(len(history[key])), history[key], style, color=colour, marker="o",
                            markersize=3, label=f"{label} {key}")
        ax.grid(True)
        ax.set_xlabel("epoch (0-based)")
        ax.set_title(metric)
        ax.legend(fontsize=8)
    axes[0].set_ylim(0, 1)
    if title:
        figure.suptitle(title)
    _write_png(figure, path)
