"""Choose the balance gains of the kernel-aware data step on the VALIDATION split.

The data step (:func:`xraydeblur.infer.data_step`) corrects the kernel-aware method's
network output ``z`` towards consistency with the input, with the tuned Wiener balance
times a gain. This script scores, for every validation image (60; ``--images`` and
``--every`` take fewer) x the 14 benchmark degradations (256 px crops; the test split
is never read):

- ``blind``: the blind flagship (what the kernel-aware result must beat),
- ``z``: the kernel-aware method's network alone (true kernel, no data step). The
  shipped ``nafnet-kernel`` runs the blind flagship's own network, so ``z`` is
  ``blind``; with ``--kernel-weights`` it is that network's output,
- ``wiener``: tuned Wiener with the true kernel,
- ``gain G``: ``z`` after the data step with balance gain G (``inf`` = no step),
- ``discrepancy T``: the gain chosen per image by Morozov's discrepancy principle
  (:func:`xraydeblur.infer.data_step.discrepancy_correction`) with residual target
  ``T`` (tau squared) from :data:`TARGETS`,
- ``discrepancy-pg``: the same rule judged against a signal-dependent
  (Poisson-Gaussian) noise level fitted to the input, target 1,
- ``weighted G`` (with ``--weighted``; noisy samples only): gain G with the data term
  weighted per pixel by the inverse of that signal-dependent noise variance
  (:func:`xraydeblur.infer.data_step.weighted_correction`; a trial, CHANGELOG.md
  "Earlier results"),

(``--quantise8``: the noise-free degradations only, their input rounded to 8 bit as
a PNG or JPEG holds it, fixed gains only; the data step's classes then end in "+8bit"
and the choice is written to ``benchmarks/results/data_step_gain-8bit.json``;
``--quantise-bits 10`` / ``12`` the same for input rounded to 10 or 12 bit, as a
DICOM's BitsStored holds it: classes "+10bit" / "+12bit")

and picks the discrepancy target with the best mean PSNR over all noisy samples (the
rule is meant for noisy input; the choice is ``discrepancy_target``), then, per
data-step class (:func:`xraydeblur.infer.data_step.step_class`: blur family and width
from the kernel, noise class from the input, judged as the data step judges them at
run time), the fixed gain or the
discrepancy rule with the best mean PSNR over the samples of that class. Prints the
table and the choices; writes JSON whose ``gains`` are copied into
:data:`xraydeblur.infer.data_step.GAINS`.

    python benchmarks/data_step_gain.py --out benchmarks/results/data_step_gain.json

or, on two cores, two shards at once and then the choice:

    OMP_NUM_THREADS=1 python benchmarks/data_step_gain.py --shard 0/2 --out runs/dsg-0.json &
    OMP_NUM_THREADS=1 python benchmarks/data_step_gain.py --shard 1/2 --out runs/dsg-1.json; wait
    python benchmarks/data_step_gain.py --merge runs/dsg-0.json runs/dsg-1.json --out benchmarks/results/data_step_gain.json

``--gains G1 G2 ...`` scores other candidate fixed gains (a trial; shards record them,
so ``--merge`` chooses among the same ones) and ``--cg-iterations N`` another solver
length than the shipped :data:`xraydeblur.infer.data_step.CG_ITERATIONS`.

(Until this session the choice used 12 images, every 5th; on so few, rules whose means
differed by under 0.01 dB were chosen between, and the rule chosen for noisy disk blur
lost 0.18 dB on the test split. The JSON also keeps every sample's scores.)

``--identified``: the kernel is not the true one but the PSF that ``nafnet-psf``
identifies from the input (:func:`xraydeblur.infer.identify.identified_kernel`);
samples it does not trust are left out (the method stays blind there), classes are
judged from the identified PSF, noise-free degradations and fixed gains only. The
choice then is the gains of :data:`xraydeblur.infer.data_step.IDENTIFIED_GAINS`,
made with ``--max-loss L``: per class the best mean among the gains whose worst sample
loses at most ``L`` dB against the blind flagship (none: no step), because a wrongly
identified PSF makes a small gain ring.

``--kernel-weights STEM`` scores another network (``STEM.safetensors`` + ``STEM.json``,
e.g. a training run's ``best``; 2-channel kernel-aware networks get their Wiener
channel) instead of the shipped one.
"""

import argparse
import json
import math
import sys

import numpy as np

from xraydeblur.infer.data_step import DISCREPANCY, DISCREPANCY_PG, WEIGHTED

GAINS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, math.inf)
#: gains tried with the noise-weighted data term (noisy samples only)
WEIGHTED_GAINS = (3.0, 10.0, 30.0, 100.0)
#: residual targets (Morozov's tau squared) tried for the discrepancy rule
TARGETS = (1.0, 1.05, 1.1, 1.2, 1.3)


def gain_label(gain: float) -> str:
    return f"gain {gain:g}"


def rule_label(gain, target: float = 1.0) -> str:
    """The table column of a data-step rule as the JSON's ``gains`` stores it: a balance
    gain (``None`` for inf: the network output unchanged) or ``"discrepancy"``, whose
    column carries its residual target (the JSON's ``discrepancy_target``)."""
    if gain == DISCREPANCY:
        return f"{DISCREPANCY} {target:g}"
    if gain == DISCREPANCY_PG:
        return DISCREPANCY_PG
    return gain_label(math.inf if gain is None else float(gain))


def score_samples(
    rows: list, kernel_weights: str | None = None, weighted: bool = False, gains: tuple = GAINS, bits: int | None = None, identified: bool = False
) -> list[dict]:
    """Per benchmark sample of ``rows`` (validation manifest rows): image, degradation,
    data-step class and the PSNR (dB) of every column (one per fixed gain of ``gains``).
    ``bits``: only the noise-free degradations, their input rounded to that many bits
    (8: as a PNG or JPEG upload holds it; 10, 12: a DICOM), fixed gains only (the
    discrepancy rules need a noise level that rounding hides from the estimate). ``identified``: the kernel is the
    trusted identified PSF (untrusted samples left out), noise-free only, fixed gains."""
    from xraydeblur.classical import tuned_balance
    from xraydeblur.data import benchmark_cases, load_image
    from xraydeblur.degrade import quantize
    from xraydeblur.infer.data_step import apply_rule, cg_iterations_for, discrepancy_correction, step_class
    from xraydeblur.infer.identify import identified_kernel
    from xraydeblur.infer.network import NetworkMethod
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    blind, wiener = get_method("nafnet-blind"), get_method("wiener")
    kernel_net = NetworkMethod(kernel_weights or get_method("nafnet-kernel").run.stem, data_step=False)
    samples = []
    for row in rows:
        image = load_image(row)
        for case in benchmark_cases([row], crop=256):
            if (bits or identified) and case.degradation.dose:
                continue
            sharp, y, k = case.load(image)
            if bits:
                y = quantize(y, bits)
            if identified:
                k, facts = identified_kernel(y)
                if k is None:
                    continue
            z = kernel_net(y, k)
            balance, reg = tuned = tuned_balance(y, k)
            key = step_class(y, k)
            z_blind = z if kernel_weights is None else blind(y)
            outs = [("blind", z_blind), ("z", z), ("wiener", wiener(y, k))]
            outs += [(gain_label(g), apply_rule(None if math.isinf(g) else g, y, z, k, tuned, key=key)) for g in gains]
            if not (bits or identified):
                outs += [(rule_label(DISCREPANCY, t), discrepancy_correction(y, z, k, balance, reg, target=t, cg_iterations=cg_iterations_for(key))) for t in TARGETS]
                outs.append((DISCREPANCY_PG, apply_rule(DISCREPANCY_PG, y, z, k, tuned, key=key)))
            if weighted and key.endswith("+noise"):
                outs += [(f"{WEIGHTED} {g:g}", apply_rule(f"{WEIGHTED} {g:g}", y, z, k, tuned, key=key)) for g in WEIGHTED_GAINS]
            samples.append({"image": row.file, "family": case.family, "class": key, "psnr": {name: psnr(sharp, out) for name, out in outs}})
            if identified:
                samples[-1]["identified"] = facts
        print(f"done {row.file}", file=sys.stderr, flush=True)
    return samples


def choose(samples: list[dict], gains: tuple = GAINS, max_loss: float | None = None) -> dict:
    """The tables and choices from scored samples: the discrepancy target with the best
    mean PSNR over the noisy samples, then per data-step class the rule with the best
    mean PSNR (ties go to the rule listed first: fixed gains, weakest correction last,
    then the discrepancy rules). ``max_loss`` (dB): only rules whose worst sample is at
    most that far below ``blind`` compete (no step always qualifies)."""
    by_family, by_class = {}, {}
    for smp in samples:
        for name, value in smp["psnr"].items():
            by_family.setdefault(smp["family"], {}).setdefault(name, []).append(value)
            by_class.setdefault(smp["class"], {}).setdefault(name, []).append(value)
    classes: dict = {}
    for smp in samples:
        classes.setdefault(smp["family"], {}).setdefault(smp["class"], 0)
        classes[smp["family"]][smp["class"]] += 1
    noisy = [v for cls, v in by_class.items() if cls.endswith("+noise")]
    scored = [t for t in TARGETS if noisy and all(rule_label(DISCREPANCY, t) in v for v in noisy)]
    target = max(scored, key=lambda t: np.mean([x for v in noisy for x in v[rule_label(DISCREPANCY, t)]])) if scored else None
    rules = [gain_label(g) for g in gains] + ([rule_label(DISCREPANCY, target), DISCREPANCY_PG] if target is not None else []) + [f"{WEIGHTED} {g:g}" for g in WEIGHTED_GAINS]
    worst = {cls: {r: _worst_loss(samples, cls, r) for r in rules} for cls in by_class}

    def allowed(cls: str, r: str) -> bool:
        return max_loss is None or r == gain_label(math.inf) or worst[cls][r] >= -max_loss

    chosen = {cls: max((r for r in rules if r in v and allowed(cls, r)), key=lambda r: np.mean(v[r])) for cls, v in sorted(by_class.items())}
    gains = {}
    for cls, r in chosen.items():
        if r == DISCREPANCY_PG or r.startswith(WEIGHTED):
            gains[cls] = r
        else:
            gains[cls] = DISCREPANCY if r.startswith(DISCREPANCY) else float(r.split()[1])
    return {
        "images": len({smp["image"] for smp in samples}),
        "table": {fam: {n: float(np.mean(v)) for n, v in cells.items()} for fam, cells in by_family.items()},
        "row_class": {fam: max(c, key=c.get) for fam, c in classes.items()},
        "class_table": {cls: {n: float(np.mean(v)) for n, v in cells.items()} for cls, cells in by_class.items()},
        "class_samples": {cls: len(cells["z"]) for cls, cells in by_class.items()},
        "gains": {c: (None if isinstance(g, float) and math.isinf(g) else g) for c, g in gains.items()},
        "discrepancy_target": target,
        "max_loss": max_loss,
        "worst_loss": {cls: {r: w for r, w in ws.items() if w is not None} for cls, ws in worst.items()},
    }


def _worst_loss(samples: list[dict], cls: str, rule: str) -> float | None:
    """The lowest PSNR of ``rule`` minus ``blind`` over the samples of ``cls`` (dB)."""
    diffs = [smp["psnr"][rule] - smp["psnr"]["blind"] for smp in samples if smp["class"] == cls and rule in smp["psnr"]]
    return float(min(diffs)) if diffs else None


def print_tables(result: dict) -> None:
    table, class_table = result["table"], result["class_table"]
    cols = list(dict.fromkeys(c for cells in table.values() for c in cells))
    print("| degradation | class (most samples) | " + " | ".join(cols) + " |\n|---|---|" + "---|" * len(cols))
    for fam, cells in table.items():
        print(f"| {fam} | {result['row_class'][fam]} | " + " | ".join(f"{cells[c]:.2f}" if c in cells else "" for c in cols) + " |")
    print("\n| data-step class | samples | " + " | ".join(cols) + " | chosen |\n|---|---|" + "---|" * (len(cols) + 1))
    for cls, cells in sorted(class_table.items()):
        print(f"| {cls} | {result['class_samples'][cls]} | " + " | ".join(f"{cells[c]:.2f}" if c in cells else "" for c in cols) + f" | {result['gains'][cls]} |")
    if result["discrepancy_target"] is not None:
        print(f"\ndiscrepancy target (tau^2, best over the noisy samples): {result['discrepancy_target']:g}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=60, help="validation images (every --every-th row)")
    p.add_argument("--every", type=int, default=1, help="take every N-th validation row")
    p.add_argument("--shard", help="K/N: score only images K, K+N, ... and write their samples (merge with --merge)")
    p.add_argument("--merge", nargs="+", help="shard JSONs to merge and choose from (no scoring)")
    p.add_argument("--kernel-weights", help="network stem (default: the shipped nafnet-kernel's network)")
    p.add_argument("--weighted", action="store_true", help="also score the noise-weighted data term (trial)")
    p.add_argument("--gains", nargs="+", type=float, help="candidate fixed gains to score instead of GAINS (a trial; 'inf' = no step)")
    p.add_argument("--cg-iterations", type=int, help="conjugate-gradient iterations of every data-step solve (default: the shipped data_step.CG_ITERATIONS)")
    p.add_argument("--quantise-bits", type=int, choices=[8, 10, 12], help="noise-free inputs rounded to this many bits, fixed gains only: the gains of the '+<bits>bit' classes")
    p.add_argument("--quantise8", action="store_const", const=8, dest="quantise_bits", help="the same as --quantise-bits 8")
    p.add_argument("--identified", action="store_true", help="the kernel is nafnet-psf's trusted identified PSF (noise-free, fixed gains): the gains of IDENTIFIED_GAINS")
    p.add_argument("--max-loss", type=float, help="per class, only gains whose worst sample loses at most this many dB against blind compete")
    p.add_argument("--out")
    args = p.parse_args()
    from xraydeblur.data import split_rows
    from xraydeblur.infer import data_step

    if args.cg_iterations:
        data_step.CG_ITERATIONS = args.cg_iterations
    gains = tuple(args.gains) if args.gains else GAINS
    iterations = data_step.CG_ITERATIONS

    if args.merge:
        shards = [json.loads(open(path).read()) for path in args.merge]
        samples = [smp for shard in shards for smp in shard["samples"]]
        command = shards[0]["command"].split(" --shard")[0]
        iterations = shards[0].get("cg_iterations", 50)  # shards before the option used 50
        if not args.gains and "candidate_gains" in shards[0]:  # the gains the shards scored
            gains = tuple(math.inf if g == "inf" else float(g) for g in shards[0]["candidate_gains"])
        if any(shard.get("cg_iterations", 50) != iterations for shard in shards):
            raise SystemExit("shards were scored with different --cg-iterations")
    else:
        rows = split_rows("val")[:: args.every][: args.images]
        if args.shard:
            k, n = (int(v) for v in args.shard.split("/"))
            rows = rows[k::n]
        samples = score_samples(rows, args.kernel_weights, args.weighted, gains, args.quantise_bits, args.identified)
        command = "python benchmarks/data_step_gain.py " + " ".join(sys.argv[1:])
        if args.shard:
            if args.out:
                with open(args.out, "w") as fh:
                    json.dump({"command": command, "split": "val", "cg_iterations": iterations, "candidate_gains": [g if math.isfinite(g) else "inf" for g in gains], "samples": samples}, fh)
            return 0
    if args.merge and args.max_loss is not None:
        command += f" --max-loss {args.max_loss:g}"
    result = {"command": command, "split": "val", "cg_iterations": iterations, **choose(samples, gains, args.max_loss)}
    print_tables(result)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({**result, "samples": samples}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
