#!/usr/bin/env python
"""Benchmark, tune and calibrate the classical deblurring baselines.

Modes (all deterministic; images are picked evenly across sources):

* default - score the registered methods "wiener", "richardson-lucy" and "low-rank"
  on the fixed benchmark cases (``xraydeblur.data.benchmark_cases``) of a split:
  the blurred input, every method with the true kernel and every method with a
  Gaussian kernel of blindly estimated width (``kernel=None``). Prints markdown
  tables and writes JSON;
* ``--tune`` - grid search of the methods' parameters per degradation family
  (gaussian / motion / disk, noise-free / noisy) on the VALIDATION split only,
  written to ``src/xraydeblur/classical/defaults.json``; with ``--quantise8`` the
  noise-free cases rounded to 8 bit (as a PNG or JPEG holds them), tuned as the
  "+8bit" classes and merged into the same file (the other classes are kept);
  ``--quantise-bits 10`` / ``12`` likewise for input rounded to 10 or 12 bit (a
  DICOM's BitsStored), the "+10bit" / "+12bit" classes (``--quantise8`` is
  ``--quantise-bits 8``);
* ``--calibrate-sigma`` - fit the blur-width estimator's two constants on the
  TRAINING split and report its accuracy on ``--split``;
* ``--timing`` - seconds per function on one 2000 x 2000 image;
* ``--blind-low-rank`` - blind low-rank deblurring (kernel estimation) on a few
  noise-free cases of ``--split``.

Examples::

    python benchmarks/classical_benchmark.py --tune --max-images 6 --crop 128
    python benchmarks/classical_benchmark.py --tune --quantise8 --max-images 6 --crop 128 \
        --low-rank-images 2 --out benchmarks/results/classical_tuning-8bit.json
    python benchmarks/classical_benchmark.py --tune --quantise-bits 10 --max-images 6 --crop 128 \
        --low-rank-images 2 --out benchmarks/results/classical_tuning-10bit.json
    python benchmarks/classical_benchmark.py --split test --scheme patient \\
        --max-images 12 --crop 256 --out benchmarks/results/classical.json
    python benchmarks/classical_benchmark.py --calibrate-sigma --split test
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from xraydeblur.classical import (  # noqa: E402
    estimate_balance,
    estimate_gaussian_sigma,
    estimate_noise_sigma,
    low_rank_deconvolution,
    richardson_lucy,
    wiener,
)
from xraydeblur.classical import _defaults  # noqa: E402
from xraydeblur.classical import estimate as estimate_module  # noqa: E402
from xraydeblur.data import benchmark_cases, load_image, split_rows  # noqa: E402
from xraydeblur.degrade import gaussian_blur, quantize  # noqa: E402
from xraydeblur.methods import get_method  # noqa: E402
from xraydeblur.metrics import psnr, ssim  # noqa: E402

METHODS = ("wiener", "richardson-lucy", "low-rank")
BORDER = 8

# tuning grids (small on purpose: run on small validation crops)
WIENER_GRID = {"balance_gain": [0.25, 0.5, 1.0, 2.0, 4.0, 8.0], "min_balance": [3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}
#: rounded (8-12 bit) input looks noise-free to the balance estimate, so the floor sets
#: the balance: the grid goes higher (the 8-bit optimum sat on the float grid's edge, 1e-2)
WIENER_GRID_QUANTISED = {**WIENER_GRID, "min_balance": WIENER_GRID["min_balance"] + [3e-2, 1e-1]}
RL_ITERATIONS = [5, 10, 20, 40, 80, 120, 200]
RL_TV = [0.0, 0.001, 0.003, 0.01]
LOW_RANK_GRID = {"weight": [0.01, 0.05, 0.2], "smoothness_scale": [0.3, 1.0], "min_noise": [0.001, 0.003]}


# --------------------------------------------------------------------------------------
# data


def pick_rows(rows, n: int | None):
    """``n`` rows spread evenly over the sources (round robin), evenly within each."""
    by_source = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.file):
        by_source[r.source].append(r)
    sources = sorted(by_source)
    if n is None or n >= len(rows):
        return [r for s in sources for r in by_source[s]]
    quota = {s: n // len(sources) for s in sources}
    for s in sources[: n % len(sources)]:
        quota[s] += 1
    # give unused quota of small sources to the others
    spare = sum(max(0, quota[s] - len(by_source[s])) for s in sources)
    for s in sources:
        quota[s] = min(quota[s], len(by_source[s]))
    for s in itertools.cycle(sources):
        if spare <= 0:
            break
        if quota[s] < len(by_source[s]):
            quota[s] += 1
            spare -= 1
    picked = {s: [by_source[s][i] for i in np.linspace(0, len(by_source[s]) - 1, quota[s]).round().astype(int)] if quota[s] else [] for s in sources}
    out = []
    for i in range(max(quota.values())):  # interleave: image 0 of each source first
        out += [picked[s][i] for s in sources if i < len(picked[s])]
    return out


def load_cases(rows, crop: int):
    """[(case, sharp, degraded, kernel)] for all benchmark degradations of ``rows``."""
    out, cache = [], {}
    for case in benchmark_cases(rows, crop=crop):
        if case.row.file not in cache:
            cache.clear()
            cache[case.row.file] = load_image(case.row)
        sharp, degraded, kernel = case.load(cache[case.row.file])
        out.append((case, sharp, degraded, kernel))
    return out


def tuning_key(case, bits: int | None = None) -> str:
    """The class a case is tuned under: family, "+noise", or "+<bits>bit" for
    noise-free input rounded to ``bits`` bits."""
    d = case.degradation
    return d.kind + ("+noise" if d.dose else f"+{bits}bit" if bits else "")


def scores(sharp, estimate) -> dict:
    return {
        "psnr": psnr(sharp, estimate),
        "ssim": ssim(sharp, estimate),
        "psnr_interior": psnr(sharp, estimate, border=BORDER),
        "ssim_interior": ssim(sharp, estimate, border=BORDER),
    }


# --------------------------------------------------------------------------------------
# benchmark


def run_benchmark(args) -> dict:
    rows = pick_rows(split_rows(args.split, args.scheme), args.max_images)
    lr_rows = {r.file for r in rows[: args.low_rank_images]}
    methods = [m for m in args.methods.split(",") if m]
    print(f"# {len(rows)} {args.split} images ({args.scheme} split), crop {args.crop}; low-rank on {len(lr_rows)}", flush=True)
    records = []
    t_start = time.time()
    cache = {}
    cases = benchmark_cases(rows, crop=args.crop)
    for n, case in enumerate(cases):
        if case.row.file not in cache:
            cache.clear()
            cache[case.row.file] = load_image(case.row)
        sharp, degraded, kernel = case.load(cache[case.row.file])
        mp = degraded.size / 1e6
        rec = {"image": case.row.file, "source": case.row.source, "family": case.family, "degradation": case.degradation.to_dict(), "results": {}}
        rec["results"]["blurred"] = {**scores(sharp, degraded), "seconds_per_mp": 0.0}
        t = time.perf_counter()
        sigma = estimate_gaussian_sigma(degraded)
        rec["estimated_sigma"] = sigma
        rec["estimate_seconds_per_mp"] = (time.perf_counter() - t) / mp
        for m in methods:
            if m == "low-rank" and case.row.file not in lr_rows:
                continue
            method = get_method(m)
            for label, k in ((m, kernel), (f"{m} (est. sigma)", None)):
                t = time.perf_counter()
                out = method(degraded, k)
                dt = time.perf_counter() - t
                rec["results"][label] = {**scores(sharp, out), "seconds_per_mp": dt / mp}
        records.append(rec)
        done = n + 1
        eta = (time.time() - t_start) / done * (len(cases) - done)
        short = " ".join(f"{k}={v['psnr']:.2f}" for k, v in rec["results"].items())
        print(f"[{done}/{len(cases)} eta {eta / 60:.1f} min] {case.key}: {short}", flush=True)
    return summarise(records, rows, lr_rows, methods, args, time.time() - t_start)


def summarise(records, rows, lr_rows, methods, args, elapsed) -> dict:
    families = list(dict.fromkeys(r["family"] for r in records))
    variants = ["blurred"] + [v for m in methods for v in (m, f"{m} (est. sigma)")]
    table = {}
    for fam in families:
        table[fam] = {}
        for v in variants:
            vals = [r["results"][v] for r in records if r["family"] == fam and v in r["results"]]
            if not vals:
                continue
            table[fam][v] = {key: float(np.mean([x[key] for x in vals])) for key in vals[0]} | {"n": len(vals)}
    overall = {}
    for v in variants:
        recs = [r for r in records if v in r["results"]]
        if not recs:
            continue
        gain = [r["results"][v]["psnr"] - r["results"]["blurred"]["psnr"] for r in recs]
        overall[v] = {
            "n": len(recs),
            "psnr": float(np.mean([r["results"][v]["psnr"] for r in recs])),
            "ssim": float(np.mean([r["results"][v]["ssim"] for r in recs])),
            "psnr_gain_over_blurred": float(np.mean(gain)),
            "ssim_gain_over_blurred": float(np.mean([r["results"][v]["ssim"] - r["results"]["blurred"]["ssim"] for r in recs])),
            "seconds_per_mp": float(np.mean([r["results"][v]["seconds_per_mp"] for r in recs])),
            "cases_worse_than_blurred": int(sum(g < 0 for g in gain)),
        }
    # the same gains on the (smaller) set of cases where low-rank ran, for a fair comparison
    lr_recs = [r for r in records if any(k.startswith("low-rank") for k in r["results"])]
    for v in overall:
        recs = [r for r in lr_recs if v in r["results"]]
        if recs:
            overall[v]["psnr_gain_on_low_rank_cases"] = float(np.mean([r["results"][v]["psnr"] - r["results"]["blurred"]["psnr"] for r in recs]))
            overall[v]["ssim_gain_on_low_rank_cases"] = float(np.mean([r["results"][v]["ssim"] - r["results"]["blurred"]["ssim"] for r in recs]))
    sigma = {}
    for fam in families:
        recs = [r for r in records if r["family"] == fam and r["degradation"]["kind"] == "gaussian"]
        if recs:
            true = recs[0]["degradation"]["params"]["sigma"]
            est = np.array([r["estimated_sigma"] for r in recs])
            sigma[fam] = {"true": true, "mean_estimate": float(est.mean()), "mean_abs_rel_error": float(np.mean(np.abs(est / true - 1))), "max_abs_rel_error": float(np.max(np.abs(est / true - 1))), "within_20pct": float(np.mean(np.abs(est / true - 1) <= 0.2))}
    return {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
        "config": {"split": args.split, "scheme": args.scheme, "images": len(rows), "crop": args.crop, "low_rank_images": len(lr_rows), "methods": methods, "border_interior": BORDER},
        "images": [r.file for r in rows],
        "machine": {"python": platform.python_version(), "cpu_count": __import__("os").cpu_count(), "node": platform.machine()},
        "elapsed_seconds": elapsed,
        "families": table,
        "overall": overall,
        "sigma_estimation": sigma,
        "defaults": _defaults.load_defaults(),
        "cases": records,
    }


def markdown(result: dict) -> str:
    cfg = result["config"]
    variants = list(result["overall"])
    short = {v: v.replace("richardson-lucy", "RL").replace(" (est. sigma)", " (est. σ)").replace("low-rank", "low-rank*") for v in variants}
    lines = [
        f"{cfg['images']} {cfg['split']} images ({cfg['scheme']} split), {cfg['crop']} x {cfg['crop']} px centre crops, "
        f"{len(result['cases'])} cases. *low-rank ran on the first {cfg['low_rank_images']} images only (taken round-robin over the sources), "
        "so its columns average fewer cases; the summary compares all variants on those cases too. "
        "'est. σ' = kernel=None: Gaussian of blindly estimated width.\n"
    ]
    for title, p_key, s_key in (("full image", "psnr", "ssim"), (f"interior (border {cfg['border_interior']} px)", "psnr_interior", "ssim_interior")):
        lines.append(f"**PSNR (dB) / SSIM, {title}**\n")
        lines.append("| degradation | " + " | ".join(short[v] for v in variants) + " |")
        lines.append("|---" * (len(variants) + 1) + "|")
        for fam, row in result["families"].items():
            cells = [f"{row[v][p_key]:.2f} / {row[v][s_key]:.3f}" if v in row else "-" for v in variants]
            lines.append(f"| {fam} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("**Summary over all cases**\n")
    lines.append("| variant | cases | PSNR | SSIM | ΔPSNR vs blurred | ΔSSIM vs blurred | ΔPSNR / ΔSSIM on the low-rank cases | cases worse than blurred | s / MP |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for v, o in result["overall"].items():
        sub = f"{o['psnr_gain_on_low_rank_cases']:+.2f} / {o['ssim_gain_on_low_rank_cases']:+.3f}" if "psnr_gain_on_low_rank_cases" in o else "-"
        lines.append(f"| {short[v]} | {o['n']} | {o['psnr']:.2f} | {o['ssim']:.3f} | {o['psnr_gain_over_blurred']:+.2f} | {o['ssim_gain_over_blurred']:+.3f} | {sub} | {o['cases_worse_than_blurred']} | {o['seconds_per_mp']:.2f} |")
    lines.append("")
    if result["sigma_estimation"]:
        lines.append("**Blind Gaussian width estimate (Gaussian cases)**\n")
        lines.append("| degradation | true σ | mean estimate | mean abs. rel. error | max abs. rel. error | within 20 % |")
        lines.append("|---|---|---|---|---|---|")
        for fam, s in result["sigma_estimation"].items():
            lines.append(f"| {fam} | {s['true']:g} | {s['mean_estimate']:.2f} | {100 * s['mean_abs_rel_error']:.1f} % | {100 * s['max_abs_rel_error']:.1f} % | {100 * s['within_20pct']:.0f} % |")
        lines.append("")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# tuning


def _mean_psnr(items, fn) -> float:
    return float(np.mean([psnr(s, fn(d, k)) for s, d, k in items]))


def run_tuning(args) -> dict:
    if args.split not in (None, "val"):
        print("note: tuning always uses the validation split", file=sys.stderr)
    rows = pick_rows(split_rows("val", args.scheme), args.max_images)
    lr_rows = {r.file for r in rows[: args.low_rank_images]}
    print(f"# tuning on {len(rows)} validation images ({args.scheme} split), crop {args.crop}; low-rank on {len(lr_rows)}", flush=True)
    loaded = load_cases(rows, args.crop)
    bits = args.quantise_bits
    if bits:
        loaded = [(c, s, quantize(d, bits), k) for c, s, d, k in loaded if not c.degradation.dose]
    groups = defaultdict(list)
    for case, sharp, degraded, kernel in loaded:
        groups[tuning_key(case, bits)].append((case, sharp, degraded, kernel))

    if not bits:  # (tuning on rounded input keeps the stored threshold)
        # noise threshold between the noise-free and noisy cases (geometric mean)
        nf = [estimate_noise_sigma(d) for c, s, d, k in loaded if not c.degradation.dose]
        ny = [estimate_noise_sigma(d) for c, s, d, k in loaded if c.degradation.dose]
        threshold = float(np.sqrt(max(nf) * min(ny))) if max(nf) < min(ny) else _defaults.FALLBACK["noise_threshold"]
        print(f"noise estimate: noise-free max {max(nf):.4f}, noisy min {min(ny):.4f} -> threshold {threshold:.4f}", flush=True)

    tuned = {"wiener": {}, "richardson-lucy": {}, "low-rank": {}}
    grid_scores = {"wiener": {}, "richardson-lucy": {}, "low-rank": {}}
    t0 = time.time()
    for key, items in groups.items():
        triples = [(s, d, k) for c, s, d, k in items]
        # Wiener: balance = max(min_balance, balance_gain * automatic estimate)
        autos = [estimate_balance(d, k) for s, d, k in triples]
        res = {}
        grid = WIENER_GRID_QUANTISED if bits else WIENER_GRID
        for gain, low in itertools.product(grid["balance_gain"], grid["min_balance"]):
            res[(gain, low)] = float(np.mean([psnr(s, wiener(d, k, balance=max(low, gain * a))) for (s, d, k), a in zip(triples, autos)]))
        (gain, low), best = max(res.items(), key=lambda kv: kv[1])
        tuned["wiener"][key] = {"balance_gain": gain, "min_balance": low}
        grid_scores["wiener"][key] = {f"gain={g},min={m}": v for (g, m), v in res.items()}
        print(f"[{time.time() - t0:.0f}s] {key}: wiener gain={gain} min={low} -> {best:.2f} dB (blurred {np.mean([psnr(s, d) for s, d, k in triples]):.2f})", flush=True)

        # Richardson-Lucy: one run per TV weight, scored at several iteration counts
        res = defaultdict(list)
        for s, d, k in triples:
            for tv in RL_TV:

                def cb(i, u, s=s, tv=tv):
                    if i in RL_ITERATIONS:
                        res[(i, tv)].append(psnr(s, np.clip(u, 0, 1)))

                richardson_lucy(d, k, iterations=max(RL_ITERATIONS), tv_weight=tv, callback=cb)
        res = {kk: float(np.mean(v)) for kk, v in res.items()}
        (its, tv), best = max(res.items(), key=lambda kv: kv[1])
        tuned["richardson-lucy"][key] = {"iterations": its, "tv_weight": tv}
        grid_scores["richardson-lucy"][key] = {f"iterations={i},tv={t}": v for (i, t), v in res.items()}
        print(f"[{time.time() - t0:.0f}s] {key}: RL iterations={its} tv={tv} -> {best:.2f} dB", flush=True)

        # low-rank (fewer images): prior weight and scale of the Wiener smoothness
        lr_triples = [(s, d, k) for (c, s, d, k) in items if c.row.file in lr_rows]
        if not lr_triples:
            continue
        wt = tuned["wiener"][key]
        smooth = [max(wt["min_balance"], wt["balance_gain"] * estimate_balance(d, k)) for s, d, k in lr_triples]
        res = {}
        for weight, scale, floor in itertools.product(LOW_RANK_GRID["weight"], LOW_RANK_GRID["smoothness_scale"], LOW_RANK_GRID["min_noise"]):
            res[(weight, scale, floor)] = float(np.mean([psnr(s, low_rank_deconvolution(d, k, weight=weight, smoothness=scale * b, min_noise=floor)) for (s, d, k), b in zip(lr_triples, smooth)]))
        (weight, scale, floor), best = max(res.items(), key=lambda kv: kv[1])
        tuned["low-rank"][key] = {"weight": weight, "smoothness_scale": scale, "min_noise": floor}
        grid_scores["low-rank"][key] = {f"weight={w},scale={s},min_noise={f}": v for (w, s, f), v in res.items()}
        print(f"[{time.time() - t0:.0f}s] {key}: low-rank weight={weight} scale={scale} min_noise={floor} -> {best:.2f} dB (wiener on same {np.mean([psnr(s, wiener(d, k, balance=b)) for (s, d, k), b in zip(lr_triples, smooth)]):.2f})", flush=True)

    meta = {
        "tuned_on": f"validation split ({args.scheme}), {len(rows)} images, crop {args.crop}, benchmark degradations; low-rank on {len(lr_rows)} images",
        "images": [r.file for r in rows],
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]),
        "criterion": "mean PSNR (full image) per family",
        "date": time.strftime("%Y-%m-%d"),
    }
    if bits:
        # merged into the stored file: its other classes and their _meta stay
        defaults = json.loads(_defaults.DEFAULTS_PATH.read_text())
        for method, classes in tuned.items():
            defaults[method].update(classes)
        defaults[f"_meta_{bits}bit"] = {**meta, "tuned_on": f"noise-free cases rounded to {bits} bit, " + meta["tuned_on"]}
    else:
        defaults = {"_meta": meta, "noise_threshold": round(threshold, 5), **tuned}
    return {"defaults": defaults, "grid_scores": grid_scores, "elapsed_seconds": time.time() - t0}


# --------------------------------------------------------------------------------------
# blur-width estimator calibration


def run_calibration(args) -> dict:
    sigmas = [1.0, 1.5, 2.0, 3.0, 4.0]

    def crops(rows):
        for r in rows:
            x = load_image(r)
            h, w = x.shape
            c = min(h, w, args.crop)
            yield r, x[(h - c) // 2 : (h - c) // 2 + c, (w - c) // 2 : (w - c) // 2 + c]

    saved = estimate_module.GAIN, estimate_module.INTRINSIC_SIGMA
    estimate_module.GAIN, estimate_module.INTRINSIC_SIGMA = 1.0, 0.0
    try:
        train = pick_rows(split_rows("train", args.scheme), args.max_images)
        raw = np.array([[estimate_gaussian_sigma(x if s == 0 else gaussian_blur(x, s)[0]) for s in [0.0] + sigmas] for _, x in crops(train)])
    finally:
        estimate_module.GAIN, estimate_module.INTRINSIC_SIGMA = saved
    s0 = float(np.median(raw[:, 0]))
    gain = float(np.median(np.array(sigmas)[None, :] / np.sqrt(np.maximum(raw[:, 1:] ** 2 - s0**2, 1e-12))))
    print(f"fitted on {len(train)} training images: INTRINSIC_SIGMA={s0:.3f} GAIN={gain:.3f} (in code: {saved[1]}, {saved[0]})", flush=True)
    rows = pick_rows(split_rows(args.split, args.scheme), args.max_images)
    rel, sources = [], []
    for r, x in crops(rows):
        rel.append([estimate_gaussian_sigma(gaussian_blur(x, s)[0]) / s - 1 for s in sigmas])
        sources.append(r.source)
    rel = np.array(rel)
    report = {
        "fitted_on_train": {"images": len(train), "intrinsic_sigma": s0, "gain": gain},
        "in_code": {"intrinsic_sigma": saved[1], "gain": saved[0]},
        "evaluation": {"split": args.split, "images": len(rows), "crop": args.crop, "sigmas": sigmas},
        "mean_rel_error": rel.mean(0).tolist(),
        "max_abs_rel_error": np.abs(rel).max(0).tolist(),
        "within_20pct": (np.abs(rel) <= 0.2).mean(0).tolist(),
        "per_source_max_abs_rel_error": {s: np.abs(rel[np.array(sources) == s]).max(0).tolist() for s in sorted(set(sources))},
    }
    print(json.dumps(report, indent=1))
    return report


# --------------------------------------------------------------------------------------
# blind low-rank (kernel estimation)


def run_blind(args) -> dict:
    """low_rank_blind on noise-free Gaussian, motion and disk cases of ``--split``."""
    from xraydeblur.classical import low_rank_blind
    from xraydeblur.degrade import Degradation

    rows = pick_rows(split_rows(args.split, args.scheme), args.max_images)
    degs = [Degradation("gaussian", {"sigma": 2.0}), Degradation("motion", {"length": 9.0}), Degradation("disk", {"radius": 2.0})]
    records = []
    for case in benchmark_cases(rows, crop=args.crop, degradations=degs):
        sharp, degraded, kernel = case.load()
        size = kernel.shape[0] + 2
        t = time.perf_counter()
        restored, k_est = low_rank_blind(degraded, size)
        dt = time.perf_counter() - t
        true = np.zeros((size, size))
        o = (size - kernel.shape[0]) // 2
        true[o : o + kernel.shape[0], o : o + kernel.shape[0]] = kernel
        non_blind = get_method("low-rank")(degraded, kernel)
        rec = {
            "case": case.key,
            "family": case.family,
            "seconds": dt,
            "kernel_l1_error": float(np.abs(k_est - true).sum()),
            "psnr_blurred": psnr(sharp, degraded),
            "psnr_blind": psnr(sharp, restored),
            "psnr_non_blind": psnr(sharp, non_blind),
        }
        records.append(rec)
        print(f"{case.key}: kernel L1 error {rec['kernel_l1_error']:.2f} (2 = disjoint), PSNR blurred {rec['psnr_blurred']:.2f} blind {rec['psnr_blind']:.2f} non-blind {rec['psnr_non_blind']:.2f}, {dt:.1f} s", flush=True)
    summary = {}
    for fam in dict.fromkeys(r["family"] for r in records):
        rs = [r for r in records if r["family"] == fam]
        summary[fam] = {key: float(np.mean([r[key] for r in rs])) for key in ("seconds", "kernel_l1_error", "psnr_blurred", "psnr_blind", "psnr_non_blind")} | {"n": len(rs)}
    print(json.dumps(summary, indent=1))
    return {"command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "split": args.split, "crop": args.crop, "images": [r.file for r in rows], "summary": summary, "cases": records}


# --------------------------------------------------------------------------------------
# full-resolution timing


def run_timing(args) -> dict:
    """Seconds for one 2000 x 2000 image (low-rank and blind low-rank: 512 x 512 and 256 x 256)."""
    from scipy.ndimage import gaussian_filter

    from xraydeblur.classical import low_rank_blind, unsupervised_wiener
    from xraydeblur.degrade import gaussian_kernel

    rng = np.random.default_rng(0)
    big = np.clip(0.5 + 0.3 * gaussian_filter(rng.normal(size=(2000, 2000)), 3.0) / 0.05, 0, 1).astype(np.float32)
    k = gaussian_kernel(2.0)
    d = _defaults.load_defaults()
    rl_its = d["richardson-lucy"]["gaussian"]["iterations"]
    jobs = [
        ("estimate_gaussian_sigma", big, lambda x: estimate_gaussian_sigma(x)),
        ("wiener (masked, 50 CG iterations)", big, lambda x: wiener(x, k, balance=1e-3)),
        ("wiener (mirror, one pass)", big, lambda x: wiener(x, k, balance=1e-3, boundary="mirror")),
        ("unsupervised_wiener", big, lambda x: unsupervised_wiener(x, k)),
        ("richardson_lucy (30 iterations)", big, lambda x: richardson_lucy(x, k, 30)),
        (f"richardson_lucy (tuned: {rl_its} iterations)", big, lambda x: richardson_lucy(x, k, rl_its)),
        ("richardson_lucy TV (30 iterations)", big, lambda x: richardson_lucy(x, k, 30, tv_weight=0.003)),
        ("registered wiener, blind (kernel=None)", big, lambda x: get_method("wiener")(x, None)),
        ("low_rank_deconvolution 512 x 512", big[:512, :512], lambda x: low_rank_deconvolution(x, k)),
        ("low_rank_blind 256 x 256 (kernel 11)", big[:256, :256], lambda x: low_rank_blind(x, 11)),
    ]
    out = {}
    for name, x, fn in jobs:
        t = time.perf_counter()
        fn(x)
        out[name] = {"seconds": time.perf_counter() - t, "shape": list(x.shape)}
        print(f"{name:45s} {x.shape[0]}x{x.shape[1]}  {out[name]['seconds']:.1f} s", flush=True)
    return {"command": "python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]), "timings": out, "cpu_count": __import__("os").cpu_count()}


# --------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default=None, choices=["train", "val", "test"], help="split to benchmark on (default test; tuning always uses val)")
    p.add_argument("--scheme", default="patient", choices=["patient", "source"], help="patient-level or held-out-source split")
    p.add_argument("--max-images", type=int, default=None, help="images, picked evenly across sources (default: 12 benchmark, 6 tuning, 31 calibration)")
    p.add_argument("--crop", type=int, default=None, help="centre crop size in px (default: 256 benchmark, 128 tuning, 512 calibration)")
    p.add_argument("--low-rank-images", type=int, default=None, help="run low-rank only on the first N picked images (default: 4 benchmark, 2 tuning)")
    p.add_argument("--methods", default=",".join(METHODS), help="comma-separated registered methods to benchmark")
    p.add_argument("--out", default=None, help="JSON output (default benchmarks/results/classical.json, classical_tuning.json or classical_sigma_calibration.json)")
    p.add_argument("--markdown", default=None, help="also write the markdown tables to this file")
    p.add_argument("--tune", action="store_true", help="tune defaults on the validation split and write defaults.json")
    p.add_argument("--quantise-bits", type=int, choices=[8, 10, 12], help="with --tune: tune the '+<bits>bit' classes (noise-free input rounded to that many bits) and merge them into defaults.json")
    p.add_argument("--quantise8", action="store_const", const=8, dest="quantise_bits", help="the same as --quantise-bits 8")
    p.add_argument("--calibrate-sigma", action="store_true", help="calibrate the blur-width estimator on the training split")
    p.add_argument("--timing", action="store_true", help="time every function on one 2000 x 2000 image (low-rank on crops)")
    p.add_argument("--blind-low-rank", action="store_true", help="evaluate low_rank_blind (kernel estimation) on --split")
    args = p.parse_args(argv)
    results = ROOT / "benchmarks" / "results"
    tuning = args.tune
    args.split = args.split or ("val" if tuning else "test")
    results.mkdir(parents=True, exist_ok=True)
    if args.blind_low_rank:
        args.max_images = args.max_images or 3
        args.crop = args.crop or 192
        report = run_blind(args)
        Path(args.out or results / "classical_blind.json").write_text(json.dumps(report, indent=1))
        return 0
    if args.timing:
        report = run_timing(args)
        Path(args.out or results / "classical_timing.json").write_text(json.dumps(report, indent=1))
        return 0
    if args.calibrate_sigma:
        args.max_images = args.max_images or 31
        args.crop = args.crop or 512
        report = run_calibration(args)
        Path(args.out or results / "classical_sigma_calibration.json").write_text(json.dumps(report, indent=1))
        return 0
    if args.tune:
        args.max_images = args.max_images or 6
        args.crop = args.crop or 128
        args.low_rank_images = 2 if args.low_rank_images is None else args.low_rank_images
        out = run_tuning(args)
        _defaults.DEFAULTS_PATH.write_text(json.dumps(out["defaults"], indent=1) + "\n")
        name = f"classical_tuning-{args.quantise_bits}bit.json" if args.quantise_bits else "classical_tuning.json"
        Path(args.out or results / name).write_text(json.dumps(out, indent=1))
        print(f"wrote {_defaults.DEFAULTS_PATH}")
        return 0
    args.max_images = args.max_images or 12
    args.crop = args.crop or 256
    args.low_rank_images = 4 if args.low_rank_images is None else args.low_rank_images
    result = run_benchmark(args)
    text = markdown(result)
    print(text)
    out = Path(args.out or results / "classical.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(text)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
