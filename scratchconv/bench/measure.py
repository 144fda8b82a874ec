"""One layer of ``scratchconv bench``: its interleaved timings (ours, TF, PyTorch), then its row of results.

For a standard layer ours is timed once per algorithm ``conv2d(algorithm=...)`` can be forced to
(``shapes.standard_algorithms``: the row method, im2col, and Winograd where it applies); the row's
``ours`` is the one ``algorithm="auto"`` runs, and the row says whether that was the fastest
measured. Where auto's ``conv2d_backward`` picks another algorithm than its ``conv2d`` (nothing is
kept between the public calls, so each picks for its own pass), auto's forward+backward is timed
as an item of its own, named "forward's+backward's" (``shapes.auto_algorithms``), and counts among
the candidates for the fastest. TensorFlow's and PyTorch's calls run in the same rounds; PyTorch
in the memory format that was faster on this layer (``torch_ops.pick_format``).
"""

import warnings

import numpy as np

from . import shapes, timing

# Time ratio targets scratchconv / TF (issue 6): forward+backward per kind, forward alone everywhere.
FORWARD_BACKWARD_TARGETS = {"depthwise": 0.5, "pointwise": 0.8, "separable": 0.7, "standard": 1.25}
FORWARD_TARGET = 1.25
PHASES = ("forward", "forward_backward")


def _rate(flops, ms, peak):
    gflops = flops / (ms * 1e-3) / 1e9
    return {"gflops": gflops, "peak_share": gflops / peak if peak else None}


def max_rel_diff(ours, theirs):
    """Largest |ours - theirs| / max|theirs| over y and every gradient (bias gradient included)."""
    worst = 0.0
    for a, b in zip(ours, theirs):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-30)
        worst = max(worst, float(np.max(np.abs(a - b))) / scale if b.size else 0.0)
    return worst


def _error(error):
    return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def _ours_name(algorithm, phase):
    return f"ours_{phase}" if algorithm is None else f"ours_{algorithm}_{phase}"


def measure_layer(spec, batch, dtype, seed, tf, probe, rounds, block_s, max_calls, threshold, torch=None):
    """Raw interleaved timings of one layer: ours (each algorithm of a standard layer), TF's and
    PyTorch's when given."""
    arrays = shapes.make_arrays(spec, batch, dtype, seed)
    algorithms = shapes.standard_algorithms(spec)
    autos = shapes.auto_algorithms(spec, arrays) if algorithms else {phase: None for phase in PHASES}
    ours = {algorithm: shapes.make_calls(spec, arrays, algorithm=algorithm or "auto")[:2]
            for algorithm in (algorithms or (None,))}
    mixed = autos["forward_backward"] not in ours  # auto's backward runs another algorithm than its forward
    reference = shapes.make_calls(spec, arrays)[1]()  # what algorithm="auto" gives: y and gradients
    peers = {"tf": None, "torch": None}
    found = {"tf_error": None, "max_rel_diff_vs_tf": None, "torch_error": None, "max_rel_diff_vs_torch": None,
             "torch_formats": None, "torch_format_ms": None}
    if tf is not None:
        from .tensorflow_ops import make_tf_calls

        try:
            with warnings.catch_warnings():
                # TF warns, then computes something else, for e.g. depthwise with strides and dilation > 1
                warnings.filterwarnings("error", message="When dilation rate")
                tf_forward, tf_forward_backward = make_tf_calls(tf, spec, arrays)
                found["max_rel_diff_vs_tf"] = max_rel_diff(reference, [t.numpy() for t in tf_forward_backward()])
                tf_forward()
            peers["tf"] = (tf_forward, tf_forward_backward)
        except Exception as error:  # TF's kernels cannot run some layers (e.g. depthwise strides + dilation)
            found["tf_error"] = _error(error)
    if torch is not None:
        from .torch_ops import pick_format

        try:
            chosen, medians, calls = pick_format(torch, spec, arrays, block_s, max_calls)
            keras_layout = calls[chosen["forward_backward"]][2]
            found["max_rel_diff_vs_torch"] = max_rel_diff(reference, keras_layout(calls[chosen["forward_backward"]][1]()))
            peers["torch"] = (calls[chosen["forward"]][0], calls[chosen["forward_backward"]][1])
            found.update(torch_formats=chosen, torch_format_ms=medians)
        except Exception as error:
            found["torch_error"] = _error(error)
    items = {}
    for index, phase in enumerate(PHASES):  # ours (every algorithm), TF, PyTorch; then the same for fwd+bwd
        for algorithm, calls in ours.items():
            items[_ours_name(algorithm, phase)] = calls[index]
        if mixed and phase == "forward_backward":
            items[_ours_name(autos[phase], phase)] = shapes.make_calls(spec, arrays)[1]
        for name, calls in peers.items():
            if calls is not None:
                items[f"{name}_{phase}"] = calls[index]
    raw = timing.run_rounds(items, probe, rounds, block_s, max_calls, threshold)
    return dict(found, spec=spec, raw=raw, algorithms=algorithms, auto_algorithm=autos["forward"], autos=autos)


def summarize_layer(measured, batch, peak, probe_quiet, threshold, wanted_rounds):
    """One row of results from a layer's raw timings (medians over the kept rounds, ratios, targets)."""
    spec, raw = measured["spec"], measured["raw"]
    rounds = len(raw["probes"]) - 1
    kept, noisy = timing.kept_rounds(raw["probes"], probe_quiet, threshold, max(1, (wanted_rounds + 2) // 3))
    flops = spec.flops(batch)
    g = spec.geometry(batch)
    auto = measured["auto_algorithm"]
    row = {"layer": spec.label, "kind": spec.kind, "input": [batch, spec.h, spec.w, spec.c],
           "output": [batch, g.out_h, g.out_w, spec.out_channels()], "flops": flops, "rounds": rounds,
           "kept_rounds": len(kept), "discarded_rounds": rounds - len(kept),
           "noisy": noisy, "probe_median_ms": 1e3 * float(np.median(raw["probes"])),
           "algorithms": list(measured["algorithms"]), "auto_algorithm": auto}
    row.update({key: measured[key] for key in ("tf_error", "max_rel_diff_vs_tf", "torch_error",
                                               "max_rel_diff_vs_torch", "torch_formats", "torch_format_ms")})

    def stats(name, phase):
        if name not in raw["times"]:
            return None
        result = timing.summarize(raw["times"][name], kept)
        result.update(_rate(flops[phase], result["ms"], peak))
        return result

    def ratios(ours, tf, torch):
        """ratio (vs TF), vs PyTorch, and vs the faster of the two (``peer``)."""
        found = {"ratio": None, "ratio_torch": None, "peer": None, "ratio_peer": None}
        if tf:
            found["ratio"] = ours["ms"] / tf["ms"]
        if torch:
            found["ratio_torch"] = ours["ms"] / torch["ms"]
        peers = {name: side["ms"] for name, side in (("tf", tf), ("torch", torch)) if side}
        if peers:
            found["peer"] = min(peers, key=peers.get)
            found["ratio_peer"] = ours["ms"] / peers[found["peer"]]
        return found

    for phase in PHASES:
        auto = measured["autos"][phase]  # the algorithm auto runs in this pass ("a+b": forward a, backward b)
        ours, tf, torch = stats(_ours_name(auto, phase), phase), stats(f"tf_{phase}", phase), stats(f"torch_{phase}", phase)
        entry = {"ours": ours, "tf": tf, "torch": torch, "ratio_best": None, "ratio_torch_best": None,
                 "target": FORWARD_TARGET if phase == "forward" else FORWARD_BACKWARD_TARGETS[spec.kind], "met": None,
                 "torch_format": None if torch is None else measured["torch_formats"][phase]}
        entry.update(ratios(ours, tf, torch))
        if tf:
            entry["ratio_best"] = ours["min_ms"] / tf["min_ms"]
            entry["met"] = entry["ratio"] <= entry["target"]
        if torch:
            entry["ratio_torch_best"] = ours["min_ms"] / torch["min_ms"]
        if measured["algorithms"]:
            by_algorithm = {}
            for algorithm in (*measured["algorithms"], *([auto] if auto not in measured["algorithms"] else [])):
                found = stats(_ours_name(algorithm, phase), phase)
                by_algorithm[algorithm] = dict(found, **ratios(found, tf, torch))
            fastest = min(by_algorithm, key=lambda a: by_algorithm[a]["ms"])
            entry.update(auto_algorithm=auto, algorithms=by_algorithm, fastest_algorithm=fastest,
                         auto_is_fastest=auto == fastest, auto_over_fastest=ours["ms"] / by_algorithm[fastest]["ms"],
                         auto_vs_fastest=None)
            if auto != fastest:  # is auto slower round by round, or only in the medians?
                slower, faster, p = timing.paired_rounds(raw["times"][_ours_name(auto, phase)],
                                                         raw["times"][_ours_name(fastest, phase)], kept)
                entry["auto_vs_fastest"] = {"slower_rounds": slower, "faster_rounds": faster, "p_value": p}
        row[phase] = entry
    return row
