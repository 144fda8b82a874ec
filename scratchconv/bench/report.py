"""The tables ``scratchconv bench`` prints, made from its JSON-able results."""

PHASES = (("forward", "fwd"), ("forward_backward", "fwd+bwd"))
SIGN_TEST_LEVEL = 0.05  # algorithm_table: auto counts as slower than the fastest below this p-value


def _ms(value):
    return "-" if value is None else f"{value:.3f}" if value < 10 else f"{value:.1f}" if value < 1e4 else f"{value:.0f}"


def _cost(value):
    """A first-call extra cost; under 1 ms it is lost in the noise (it can even come out negative)."""
    return "-" if value is None else "~0" if value < 1 else _ms(value)


def _pct(value):
    return "-" if value is None else f"{100 * value:.0f}%"


def _target(entry):
    if entry["ratio"] is None:
        return f"<={entry['target']:.2f}"
    return f"<={entry['target']:.2f} " + ("ok" if entry["met"] else "MISS")


def header(results):
    m, s, peak = results["machine"], results["settings"], results["peak"]
    blas_threads = "?" if m["blas_threads"] is None else m["blas_threads"]
    lines = [
        f"$ {results['command']}",
        f"layers: {s.get('set', 'article')} set; batch {s['batch']}, {s['dtype']}, NHWC; {s['rounds']} interleaved "
        "rounds per layer"
        + (" (--quick)" if s["quick"] else ""),
        f"machine: {m['cpu']}, {m['cpus']} CPUs; numpy {m['numpy']}, numba {m['numba']}"
        + (f", tensorflow {m['tensorflow']}" if "tensorflow" in m else "")
        + (f", torch {m['torch']}" if "torch" in m else ""),
        f"threads: Numba {m['numba_threads']} ({m['numba_threading_layer']}), {m['blas']} {blas_threads}"
        + (" (could not set)" if m.get("blas_threads_set") is False else "")
        + (f" ({m['blas_core']} kernels)" if m.get("blas_core") else "")
        + (f", TF intra-op {m['tf_intra_op_threads']} / inter-op {m['tf_inter_op_threads']}"
           if "tf_intra_op_threads" in m else "")
        + (f", torch intra-op {m['torch_intra_op_threads']} / inter-op {m['torch_inter_op_threads']}"
           if "torch_intra_op_threads" in m else ""),
        f"peak: best of many {peak['matmul_size']}^3 matmuls, np.matmul {peak['numpy_gflops']:.1f} GFLOP/s"
        + (f", tf.matmul {peak['tf_gflops']:.1f} GFLOP/s" if "tf_gflops" in peak else "")
        + f" -> peak {peak['gflops']:.1f} GFLOP/s",
    ]
    if "tf_call_overhead_ms" in m:
        lines.append(f"TF's fixed cost per tf.function call (an almost empty one): {m['tf_call_overhead_ms']:.3f} ms")
    noise = results["noise"]
    loads = [f"{v:.1f}" for v in noise["load_average"] if v is not None]
    lines.append(
        f"noise: {noise['discarded_rounds']} of {noise['rounds']} rounds discarded (probe before/after > "
        f"{s['probe_threshold']}x its quiet time {noise['probe_quiet_ms']:.3f} ms; probe median "
        f"{noise['probe_median_ms']:.3f} ms)" + (f"; load average {' -> '.join(loads)}" if loads else "")
    )
    if noise["noisy_layers"]:
        lines.append(f"NOISY (too few clean rounds, the fastest third kept): {', '.join(noise['noisy_layers'])}")
    if m["thread_env"]:
        lines.append("environment: " + " ".join(f"{k}={v}" for k, v in m["thread_env"].items()))
    if noise["probe_median_ms"] > 2 * noise["probe_quiet_ms"]:
        lines.append("WARNING: the machine was busy for much of this run (probe median > 2x its quiet time); "
                     "parallel loops collapse under load, so treat these numbers with care")
    if noise["probe_quiet_ms"] > 1.0:
        lines.append("WARNING: even the quietest probes were slow: idle OpenMP/OpenBLAS threads spinning on an "
                     "overloaded machine; compare with OMP_WAIT_POLICY=passive OPENBLAS_THREAD_TIMEOUT=4, or --threads 1")
    if "tf_gflops" in peak and peak["numpy_gflops"] < 0.5 * peak["tf_gflops"]:
        lines.append("WARNING: np.matmul (OpenBLAS) ran at under half tf.matmul's rate: OpenBLAS's threads collapse when "
                     "another process holds a core (its waiting threads yield instead of sleeping), and the noise "
                     "probe does not see it; scratchconv's BLAS products then take many times longer")
    if m.get("blas_core_warning"):
        lines.append("WARNING: " + m["blas_core_warning"])
    if m["numba_jit_disabled"]:
        lines.append("NUMBA_DISABLE_JIT=1: the fast kernels ran as plain Python; these times mean nothing")
    return lines


def _ratio(value):
    return "-" if value is None else f"{value:.2f}"


def layer_table(results):
    columns = ("layer", "pass", "ours ms", "TF ms", "torch ms", "ratio", "target", "best ratio", "/torch", "/peer",
               "ours GF/s", "peak", "TF GF/s", "peak", "kept")
    widths = (26, 8, 9, 9, 9, 6, 10, 10, 6, 6, 10, 5, 9, 5, 6)
    align = ("<", "<", ">", ">", ">", ">", "<", ">", ">", ">", ">", ">", ">", ">", ">")

    def line(cells):
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(cells, align, widths)).rstrip()

    lines = [line(columns)]
    for row in results["rows"]:
        for phase, name in PHASES:
            e = row[phase]
            tf, torch = e["tf"] or {}, e.get("torch") or {}
            lines.append(line((
                row["layer"] if phase == "forward" else "", name, _ms(e["ours"]["ms"]), _ms(tf.get("ms")),
                _ms(torch.get("ms")), _ratio(e["ratio"]), _target(e), _ratio(e["ratio_best"]),
                _ratio(e.get("ratio_torch")), _ratio(e.get("ratio_peer")), f"{e['ours']['gflops']:.1f}",
                _pct(e["ours"]["peak_share"]), "-" if not tf else f"{tf['gflops']:.1f}", _pct(tf.get("peak_share")),
                f"{row['kept_rounds']}/{row['rounds']}" if phase == "forward" else "",
            )))
        for peer, name in (("tf", "TF"), ("torch", "PyTorch")):
            if row.get(f"{peer}_error"):
                lines.append(f"{'':26}  {name} cannot run this layer: {row[f'{peer}_error']}")
            elif (row.get(f"max_rel_diff_vs_{peer}") or 0) > 1e-3:
                lines.append(f"{'':26}  WARNING: ours and {name} differ by {row[f'max_rel_diff_vs_{peer}']:.1e} (relative)")
    return lines


def algorithm_table(results):
    """Each standard layer's time per algorithm, and whether algorithm='auto' ran the fastest."""
    rows = [row for row in results["rows"] if row.get("algorithms")]
    if not rows:
        return []
    names = ("rows", "im2col", "winograd")
    lines = ["standard layers by algorithm (conv2d(algorithm=...)): median ms, and in brackets the time over the "
             "faster peer's (TF or PyTorch);",
             "auto = what algorithm='auto' runs (a+b: conv2d runs a, conv2d_backward b); auto/fastest = its time "
             "over the fastest's",
             f"  {'layer':26}{'pass':9}" + "".join(f"{n:>18}" for n in names)
             + f"  {'auto':16}{'fastest':16}{'auto/fastest':>12}"]
    for row in rows:
        for phase, label in PHASES:
            e = row[phase]
            cells = []
            for n in names:
                a = e["algorithms"].get(n)
                cells.append("-" if a is None else _ms(a["ms"]) + ("" if a["ratio_peer"] is None
                                                                   else f" ({a['ratio_peer']:.2f})"))
            verdict = "" if e["auto_is_fastest"] else "  auto not the fastest"
            lines.append(f"  {row['layer'] if phase == 'forward' else '':26}{label:9}"
                         + "".join(f"{c:>18}" for c in cells)
                         + f"  {e.get('auto_algorithm', row['auto_algorithm']):16}{e['fastest_algorithm']:16}"
                         + f"{e['auto_over_fastest']:>12.2f}"
                         + verdict)
    choices = results.get("auto_choice") or []
    missed = [c for c in choices if not c["auto_is_fastest"]]

    def rounds(c):  # auto against the fastest, round by round (older results have no counts)
        paired = c.get("auto_vs_fastest")
        if not paired:
            return ""
        return (f", slower in {paired['slower_rounds']} of {paired['slower_rounds'] + paired['faster_rounds']} "
                f"rounds, p = {paired['p_value']:.2g}")

    lines.append(f"auto chose the fastest algorithm measured on {len(choices) - len(missed)} of {len(choices)} "
                 "(layer, pass)" + ("" if not missed else "; not on: " + ", ".join(
                     f"{c['layer']} {dict(PHASES)[c['pass']]} ({c['auto']} {c['auto_over_fastest']:.2f}x "
                     f"{c['fastest']}{rounds(c)})" for c in missed)))
    if any(c.get("auto_vs_fastest") for c in missed):
        sure = sum(1 for c in missed if (c.get("auto_vs_fastest") or {}).get("p_value", 1.0) < SIGN_TEST_LEVEL)
        lines.append(f"(p: the sign test over the kept rounds, each round's median calls; auto slower with p < "
                     f"{SIGN_TEST_LEVEL} on {sure} of {len(missed)}, the rest within the run's noise)")
    return lines


def target_summary(results):
    lines = []
    for kind in dict.fromkeys(row["kind"] for row in results["rows"]):
        rows = [row for row in results["rows"] if row["kind"] == kind]
        for phase, name in PHASES:
            entries = [row[phase] for row in rows if row[phase]["ratio"] is not None]
            if not entries:
                continue
            met = sum(e["met"] for e in entries)
            ratios = ", ".join(f"{e['ratio']:.2f}" for e in entries)
            lines.append(f"  {kind:9} {name:7} <= {entries[0]['target']:.2f}: {met}/{len(entries)} met  ({ratios})")
    return lines


def compile_table(results):
    start = results["numba_startup"]
    lines = [f"Numba start-up, once per process (first call of the first kernel, cache {start['cache']}): "
             f"{_ms(start['first_kernel_ms'])} ms",
             "Numba compile cost (first call minus steady state; 'warm' = every kernel loaded from the cache):",
             f"  {'kind':10}{'layer':26}{'fwd first':>11}{'compile':>10}{'bwd first':>11}{'compile':>10}   cache"]
    for c in results["compile"]:
        lines.append(
            f"  {c['kind']:10}{c['layer']:26}{_ms(c['forward_first_ms']):>11}{_cost(c.get('forward_compile_ms')):>10}"
            f"{_ms(c['backward_first_ms']):>11}{_cost(c.get('backward_compile_ms')):>10}   {c['cache']} "
            f"({c['kernels_loaded']} loaded, {c['kernels_compiled']} compiled)"
        )
    lines.append("  (ms; `scratchconv bench --cold-warm` times a fresh process with an empty and a warm cache)")
    return lines


def naive_table(results):
    if not results["naive"]:
        return []
    batch = results["naive"][0]["batch"]
    lines = [f"Loop-by-loop versions (scratchconv.naive), one call each at batch {batch}, per image:",
             f"  {'layer':26}{'naive fwd ms':>14}{'fast fwd ms':>13}{'slower':>9}{'naive bwd ms':>14}"
             f"{'fast bwd ms':>13}{'slower':>9}"]
    for n in results["naive"]:
        lines.append(
            f"  {n['layer']:26}{_ms(n['forward_per_image_ms']):>14}{_ms(n['fast_forward_per_image_ms']):>13}"
            f"{n['forward_slowdown']:>8.0f}x{_ms(n['backward_per_image_ms']):>14}"
            f"{_ms(n['fast_backward_per_image_ms']):>13}"
            + ("        -" if n["backward_slowdown"] is None else f"{n['backward_slowdown']:>8.0f}x")
        )
    return lines


def format_report(results):
    """The whole report as text."""
    lines = header(results) + [""] + layer_table(results) + [""]
    lines.append("ratio = scratchconv time / TF time (medians, same process, interleaved; the targets use it); "
                 "best ratio = the same with\nthe fastest calls (preemption on a busy machine only adds time); "
                 "/torch = scratchconv time / PyTorch time (the faster of NCHW and channels_last);\n/peer = over the "
                 "faster of TF and PyTorch; peak = share of the matmul peak; FLOPs = 2 per multiply-add, "
                 "fwd+bwd = 3 x fwd")
    algorithms = algorithm_table(results)
    if algorithms:
        lines += [""] + algorithms
    if results["tf_available"]:
        lines += ["", "targets (issue 6):"] + target_summary(results)
    else:
        lines.append(f"no TF ratios: {results['tf_message']}")
    if not results.get("torch_available", False):
        lines.append(f"no PyTorch ratios: {results.get('torch_message')}")
    lines += [""] + compile_table(results)
    naive = naive_table(results)
    if naive:
        lines += [""] + naive
    lines.append(f"\n({results['seconds']:.0f} s)")
    return "\n".join(lines)
