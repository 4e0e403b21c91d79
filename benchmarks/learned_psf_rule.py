"""Choose, on the validation split, when ``nafnet-auto`` restores with the PSF the learned
estimator found instead of blind: the confidence threshold and the data step's gains.

For every case (validation images evenly spaced, centre crops, the 14 benchmark
degradations, float and rounded inputs) it runs the blind network once, the estimator
once (its parameters as the network gives them, and refined by the spectral fit,
:func:`xraydeblur.classical.psf_search.refine_psf`), and the data step with each
estimated PSF in each of its forms (``--steps``): "learned" (the learned data step,
:mod:`xraydeblur.infer.learned_step`, as a known kernel gets it), "known" (the gain
table of a known kernel) and "identified" (the gains chosen for ``nafnet-psf``'s
spectral identification). The auto
method's output is the data-step one when the family is buildable, its widths within the ranges the estimator
was trained on and the confidence at least its family's threshold, else the blind one.
Chosen, searched together: the data step's form, which families to refine (the spectral fit
pins widths where the OTF has zeros, motion and disk, and can be biased where it rolls
off smoothly, a Gaussian), a factor on the network's Gaussian width
(:data:`GAUSSIAN_SCALES`: too wide a Gaussian costs far more than too narrow a one) and a
confidence threshold per family, with the best mean
PSNR over all cases among those whose every row (degradation x bit depth) loses at most
``--max-row-loss`` dB against blind (default 0.1: a margin under the issue's 0.3 dB on
test).

    python benchmarks/learned_psf_rule.py --max-images 10 --crop 256 --bits 0 8 12 16 --steps learned --out benchmarks/results/learned_psf_rule.json --write

``--compare-with OTHER.json`` scores OTHER's chosen rule on these records too (the
``compared`` entry; e.g. a rule chosen with the gain tables against the learned step)::

    python benchmarks/learned_psf_rule.py --from-json benchmarks/results/learned_psf_rule.json --compare-with benchmarks/results/trials/learned_psf_rule-tables.json --out benchmarks/results/learned_psf_rule.json

``--reuse EARLIER.json`` (a run with the same settings) takes its records where the
data step takes the input as noise-free under every PSF the estimator gave (that step
unchanged), so a change of the noisy-input step re-runs only those cases.

``--extend EARLIER.json`` (a run with the same settings) keeps its records and adds
the scaled Gaussian widths' scores where they are missing (only the cases where the
estimator found a Gaussian run again).

``--write`` stores the rule in ``src/xraydeblur/weights/psf/psf-estimator.json`` and
the step's form in ``src/xraydeblur/weights/nafnet-auto.json`` (``"step": "learned"``,
or ``"gains"``). ``--from-json`` re-chooses
from a previous run's records. Never run on the test split.

For the weights retrained with a source held out (the blind network in
``benchmarks/weights/unseen-mhh``, the estimator in its ``psf/``), choose on that
scheme's validation split and write there::

    python benchmarks/learned_psf_rule.py --scheme source --held-out mhh --weights-dir benchmarks/weights/unseen-mhh --max-images 10 --crop 256 --bits 0 8 12 16 --steps learned --out benchmarks/results/learned_psf_rule-unseen-mhh.json --write
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from xraydeblur.models.psf_labels import within_trained_ranges  # noqa: E402

THRESHOLDS = [round(t, 2) for t in np.arange(0.3, 1.0001, 0.05)] + [0.975, 0.99, 1.01]
#: the data step's forms: the learned step, the known kernel's gain table, the identified one's
#: (a record's "PARAMETERS/FORM" keys and the JSONs' "gains" field name them)
STEP_FORMS = ("learned", "known", "identified")
#: how the parameters are taken: the network's, or refined by the spectral fit
PARAMETERS = ("network", "refined")
#: families whose parameters the spectral fit can refine (:func:`xraydeblur.classical.psf_search.refine_psf`)
REFINABLE = ("gaussian", "disk", "motion")
#: factors on the network's Gaussian width searched with the rule (1: the width as
#: estimated). Too wide a Gaussian costs far more than too narrow a one (the step then
#: amplifies the high frequencies by ``exp(2 pi^2 (s_used^2 - s_true^2) f^2)``; too
#: narrow leaves a little blur), so under an uncertain estimate the best width to restore
#: with lies below it. A record's "network*<factor>/learned" key holds the learned step's
#: PSNR at that width.
GAUSSIAN_SCALES = (1.0, 0.97, 0.94, 0.91, 0.88, 0.85)


def records_for(
    max_images: int, crop: int, bits_list: list[int], scheme: str = "patient", held_out: str = "mhh", folder: Path | None = None, steps: tuple[str, ...] = STEP_FORMS,
    step_stem: Path | None = None, reuse: dict | None = None,
) -> list[dict]:
    """One record per validation case (module docstring). ``reuse``: earlier records by
    key, taken as they are for a case whose input the data step takes as noise-free under
    every PSF the estimator gave (that step unchanged since; the blind network and the
    estimator are deterministic)."""
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data.splits import split_rows
    from xraydeblur.degrade import make_kernel
    from xraydeblur.evaluate import benchmark_iter
    from xraydeblur.infer.data_step import data_step, noise_free_under
    from xraydeblur.infer.learned_psf import BUILDABLE, estimate_learned_psf
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    from xraydeblur.infer.learned_psf import ESTIMATOR_DIR

    folder = folder or ESTIMATOR_DIR
    rows = subset(split_rows("val", scheme, held_out), max_images)
    blind = get_method("nafnet-blind")
    records = []
    for bits in bits_list:
        for key, family, sharp, degraded, _kernel in benchmark_iter(rows, crop, bits or None):
            started = time.perf_counter()
            found = estimate_learned_psf(degraded, folder, refine=False)
            refined = estimate_learned_psf(degraded, folder, refine=True)
            if reuse and key in reuse and all(noise_free_under(degraded, e.kernel) for e in (found, refined) if e.family in BUILDABLE):
                records.append(reuse[key])
                continue
            z = blind(degraded)
            record = {
                "key": key,
                "row": family,
                "blind": psnr(sharp, z),
                "found": found.family,
                "params": found.params,
                "refined_params": refined.params,
                "confidence": found.confidence,
                "probabilities": found.probabilities,
            }
            if found.family in BUILDABLE:
                for parameters, estimate in zip(PARAMETERS, (found, refined)):
                    kernel = make_kernel(estimate.family, **estimate.params)  # the width as estimated, whatever factor the rule in force has
                    for gains in steps:
                        out = data_step(degraded, z, kernel, identified=gains == "identified", learned=gains == "learned", step_stem=step_stem)
                        record[f"{parameters}/{gains}"] = psnr(sharp, out)
            if "learned" in steps:
                record.update(scaled_gaussian_scores(found, sharp, degraded, z, step_stem))
            record["seconds"] = round(time.perf_counter() - started, 2)
            records.append(record)
            print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in record.items() if k != "params"}), flush=True)
    return records


def scaled_gaussian_scores(found, sharp: np.ndarray, degraded: np.ndarray, z: np.ndarray, step_stem: Path | None) -> dict:
    """{"network*<factor>/learned": PSNR} of the learned data step with the network's
    Gaussian width times each factor of :data:`GAUSSIAN_SCALES` but 1, for an estimate
    ``found`` of the Gaussian family (else {}); ``z``: the blind network's output for
    ``degraded`` (H, W, [0, 1])."""
    from xraydeblur.degrade import make_kernel
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.metrics import psnr

    if found.family != "gaussian":
        return {}
    scores = {}
    for factor in GAUSSIAN_SCALES[1:]:
        kernel = make_kernel("gaussian", sigma=found.params["sigma"] * factor)
        scores[f"network*{factor:g}/learned"] = psnr(sharp, data_step(degraded, z, kernel, learned=True, step_stem=step_stem))
    return scores


def extend_with_scales(records: list[dict], max_images: int, crop: int, bits_list: list[int], scheme: str, held_out: str, folder: Path, step_stem: Path | None) -> list[dict]:
    """``records`` (an earlier run with the same settings) with the scaled Gaussian
    widths' scores (:func:`scaled_gaussian_scores`) added where the estimator found a
    Gaussian and they are missing: only those cases run again (the blind network and
    the estimator are deterministic)."""
    from xraydeblur.cli.evaluate import subset
    from xraydeblur.data.splits import split_rows
    from xraydeblur.evaluate import benchmark_iter
    from xraydeblur.infer.learned_psf import estimate_learned_psf
    from xraydeblur.methods import get_method

    by_key = {r["key"]: r for r in records}
    wanted = {k for k, r in by_key.items() if r["found"] == "gaussian" and f"network*{GAUSSIAN_SCALES[-1]:g}/learned" not in r}
    blind = get_method("nafnet-blind")
    for bits in bits_list:
        for key, _family, sharp, degraded, _kernel in benchmark_iter(subset(split_rows("val", scheme, held_out), max_images), crop, bits or None):
            if key not in wanted:
                continue
            found = estimate_learned_psf(degraded, folder, refine=False)
            by_key[key].update(scaled_gaussian_scores(found, sharp, degraded, blind(degraded), step_stem))
            print(json.dumps({"key": key, **{k: round(v, 3) for k, v in by_key[key].items() if k.startswith("network")}}), flush=True)
    return records


def refined_families(records: list[dict], gains: str) -> list[str]:
    """The families of :data:`REFINABLE` whose refined parameters gave a higher mean PSNR
    than the network's own, over the validation cases the estimator named that family."""
    chosen = []
    for family in REFINABLE:
        cases = [r for r in records if r["found"] == family and f"refined/{gains}" in r]
        if cases and np.mean([r[f"refined/{gains}"] - r[f"network/{gains}"] for r in cases]) > 0:
            chosen.append(family)
    return chosen


def score(records: list[dict], gains: str, refine: list[str], threshold: float | dict, gaussian_scale: float = 1.0) -> tuple[float, dict]:
    """(mean PSNR of the auto method, {row: mean auto - blind}) with the data step's
    ``gains`` table, the parameters refined for the families in ``refine``, the
    confidence ``threshold`` (one for every family, or {family: threshold}) and, for a
    Gaussian not refined, its width times ``gaussian_scale`` (:data:`GAUSSIAN_SCALES`)."""
    gain_by_row = defaultdict(list)
    auto = []
    for r in records:
        refined = r["found"] in refine
        option = f"{'refined' if refined else 'network'}/{gains}"
        if r["found"] == "gaussian" and not refined and gaussian_scale != 1.0:
            option = f"network*{gaussian_scale:g}/{gains}"
        in_range = within_trained_ranges(r["refined_params" if refined else "params"])
        needed = threshold.get(r["found"], 1.01) if isinstance(threshold, dict) else threshold
        use = option in r and r["confidence"] >= needed and in_range
        value = r[option] if use else r["blind"]
        auto.append(value)
        gain_by_row[r["row"]].append(value - r["blind"])
    return float(np.mean(auto)), {row: float(np.mean(v)) for row, v in gain_by_row.items()}


#: a family's estimates are used only if they raise the mean PSNR over all validation
#: cases by at least this much (dB) over never using them: a threshold that a handful
#: of cases set for a gain of a few thousandths of a dB is fitted to those cases (on the
#: first run with the learned step on noisy input, exponential at 0.45 gained 0.0002 dB
#: from 12 validation cases and then took a whole 16-bit DICOM's Gaussian blur for an
#: exponential one, -0.66 dB against blind: benchmarks/trials/auto_full_size.py)
MIN_FAMILY_GAIN_DB = 0.01


def family_thresholds(
    records: list[dict], gains: str, refine: list[str], max_row_loss: float, passes: int = 4, min_gain: float = MIN_FAMILY_GAIN_DB, gaussian_scale: float = 1.0
) -> dict:
    """{family: threshold} for every buildable family, by coordinate ascent from "never
    use" (1.01, feasible: every row equals blind): each family in turn takes the
    threshold of :data:`THRESHOLDS` with the best mean PSNR whose worst row loses at
    most ``max_row_loss`` dB (ties: the higher threshold), until nothing changes; a
    threshold that raises the mean by less than ``min_gain`` dB over that family's
    "never" stays "never"."""
    from xraydeblur.infer.learned_psf import BUILDABLE

    chosen = {family: 1.01 for family in BUILDABLE}
    for _ in range(passes):
        changed = False
        for family in BUILDABLE:
            best = None
            for t in THRESHOLDS:
                trial = {**chosen, family: t}
                mean, rows = score(records, gains, refine, trial, gaussian_scale)
                if min(rows.values()) >= -max_row_loss and (best is None or (mean, t) > best[:2]):
                    best = (mean, t)
            never, never_rows = score(records, gains, refine, {**chosen, family: 1.01}, gaussian_scale)
            if best is not None and best[1] < 1.01 and best[0] - never < min_gain and min(never_rows.values()) >= -max_row_loss:
                best = (never, 1.01)
            if best is not None and best[1] != chosen[family]:
                chosen[family], changed = best[1], True
        if not changed:
            break
    return chosen


def choose(records: list[dict], max_row_loss: float, min_gain: float = MIN_FAMILY_GAIN_DB) -> dict:
    """Every data-step form the records hold (:data:`STEP_FORMS`) x every subset of
    :data:`REFINABLE` to refine x every Gaussian width factor the records hold
    (:data:`GAUSSIAN_SCALES`; learned step only), each with its per-family thresholds
    (:func:`family_thresholds`), searched together: the best mean PSNR whose worst row
    loses at most ``max_row_loss`` dB against blind wins (ties: fewer families refined,
    then the factor nearest 1). Choosing the families first, by their mean gain, could keep
    a refinement that helps on average but ruins one row; one threshold for every
    family would then hide that row only by giving up every other family's gains too.
    ``refine_helps`` lists, per form, the families whose refinement helped on
    average (:func:`refined_families`), for the record."""
    from itertools import combinations

    subsets = [list(c) for n in range(len(REFINABLE) + 1) for c in combinations(REFINABLE, n)]
    table = []
    for gains in [g for g in STEP_FORMS if any(k.endswith(f"/{g}") for r in records for k in r)]:
        scales = [f for f in GAUSSIAN_SCALES if f == 1.0 or (gains == "learned" and any(f"network*{f:g}/{gains}" in r for r in records))]
        for refine in subsets:
            for factor in scales if "gaussian" not in refine else [1.0]:
                thresholds = family_thresholds(records, gains, refine, max_row_loss, min_gain=min_gain, gaussian_scale=factor)
                mean, rows = score(records, gains, refine, thresholds, factor)
                table.append({"refine": refine, "gains": gains, "gaussian_scale": factor, "min_confidence": thresholds, "mean_psnr": round(mean, 4),
                              "worst_row_gain_db": round(min(rows.values()), 4), "rows": {k: round(v, 4) for k, v in rows.items()}})
    allowed = [e for e in table if e["worst_row_gain_db"] >= -max_row_loss]
    best = max(allowed, key=lambda e: (e["mean_psnr"], -len(e["refine"]), e["gaussian_scale"]))
    return {"chosen": {k: best[k] for k in ("refine", "gains", "gaussian_scale", "min_confidence", "mean_psnr", "worst_row_gain_db")}, "chosen_rows": best["rows"],
            "refine_helps": {gains: refined_families(records, gains) for gains in {e["gains"] for e in table}}, "table": table}


def write(chosen: dict, command: str, folder: Path) -> None:
    """Store the rule in ``folder``'s estimator JSON and the data step's form in the
    ``nafnet-auto.json`` beside it (``"step": "learned"``, else its ``"gains"``)."""
    from xraydeblur.infer.learned_psf import ESTIMATOR_NAME

    meta_path = folder / f"{ESTIMATOR_NAME}.json"
    meta = json.loads(meta_path.read_text())
    meta["rule"] = {"min_confidence": chosen["min_confidence"], "refine": chosen["refine"], "gaussian_scale": chosen.get("gaussian_scale", 1.0), "chosen_by": command}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    variant_path = folder.parent / "nafnet-auto.json"
    variant = json.loads(variant_path.read_text())
    if chosen["gains"] == "learned":
        variant["step"] = "learned"
    else:
        variant.pop("step", None)
        variant["gains"] = chosen["gains"]
    variant_path.write_text(json.dumps(variant, indent=2) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-images", type=int, default=12)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12], help="input bit depths (0 = float)")
    p.add_argument("--max-row-loss", type=float, default=0.1)
    p.add_argument("--min-family-gain", type=float, default=MIN_FAMILY_GAIN_DB, help="dB of mean PSNR a family's estimates must add to be used")
    p.add_argument("--out", default="benchmarks/results/learned_psf_rule.json")
    p.add_argument("--from-json", help="re-choose from this earlier run's records")
    p.add_argument("--scheme", default="patient", choices=["patient", "source"])
    p.add_argument("--held-out", default="mhh")
    p.add_argument("--weights-dir", help="networks (and psf/ estimator) retrained with a source held out")
    p.add_argument("--steps", nargs="+", choices=STEP_FORMS, default=list(STEP_FORMS), help="the data step's forms to score (default all)")
    p.add_argument("--compare-with", help="also score this earlier run's chosen rule (refine, thresholds) on these records, with the form chosen here")
    p.add_argument("--write", action="store_true")
    p.add_argument("--reuse", help="an earlier run's JSON (same settings): its records where the input is noise-free under every PSF found (that data step unchanged)")
    p.add_argument("--extend", help="an earlier run's JSON (same settings): its records, with the scaled Gaussian widths' scores added where missing")
    args = p.parse_args()
    from xraydeblur.infer.learned_psf import ESTIMATOR_DIR

    folder = ESTIMATOR_DIR
    if args.weights_dir:
        from xraydeblur.models.registry import register_weights_dir

        register_weights_dir(args.weights_dir)
        folder = Path(args.weights_dir) / "psf"
    if args.from_json or args.extend:
        previous = json.loads(Path(args.from_json or args.extend).read_text())
        records, settings = previous["records"], previous["settings"]
        if args.extend:
            from xraydeblur.methods import get_method

            step_stem = get_method("nafnet-kernel").extra.get("learned_step")
            records = extend_with_scales(records, settings["max_images"], settings["crop"], settings["bits"], settings["scheme"], settings.get("held_out") or args.held_out, folder, step_stem)
    else:
        from xraydeblur.methods import get_method

        step_stem = get_method("nafnet-kernel").extra.get("learned_step")  # the folder's own step, as the registry resolves it
        reuse = {r["key"]: r for r in json.loads(Path(args.reuse).read_text())["records"]} if args.reuse else None
        records = records_for(args.max_images, args.crop, args.bits, args.scheme, args.held_out, folder, tuple(args.steps), step_stem, reuse)
        settings = {"steps": args.steps, "split": "val", "scheme": args.scheme, "held_out": args.held_out if args.scheme == "source" else None, "weights_dir": args.weights_dir, "max_images": args.max_images, "crop": args.crop, "bits": args.bits}
    result = choose(records, args.max_row_loss, args.min_family_gain)
    settings["max_row_loss"] = args.max_row_loss
    settings["min_family_gain"] = args.min_family_gain
    print(f"\n{'row':32s} {'auto - blind (dB)':>18s}")
    for row, gain in result["chosen_rows"].items():
        print(f"{row:32s} {gain:+18.3f}")
    print("chosen:", json.dumps(result["chosen"]))
    if args.compare_with:
        former = json.loads(Path(args.compare_with).read_text())["chosen"]
        mean, rows = score(records, result["chosen"]["gains"], former["refine"], former["min_confidence"], former.get("gaussian_scale", 1.0))
        worst = min(rows, key=rows.get)
        result["compared"] = {"rule_of": args.compare_with, "refine": former["refine"], "min_confidence": former["min_confidence"],
                              "mean_psnr": round(mean, 4), "worst_row": worst, "worst_row_gain_db": round(rows[worst], 4)}
        print("compared:", json.dumps(result["compared"]))
    Path(args.out).write_text(json.dumps({"settings": settings, **result, "records": records}, indent=1) + "\n")
    if args.write:
        write(result["chosen"], "python benchmarks/learned_psf_rule.py " + " ".join(sys.argv[1:]), folder)


if __name__ == "__main__":
    main()
