"""Trial (issue 26, diagnosis): which MMSE balance should the learned step's candidates
be anchored on when the sharp image carries its own grain?

The learned step solves its candidates at fixed multiples of one balance ``b``
(:func:`xraydeblur.infer.learned_step.candidate_balance`: :func:`xraydeblur.classical.estimate_balance`,
the median over the signal-dominated rings of frequency of the signal level ``c`` of a
1/f^2 model) and its blend learns which multiple to trust. On crops whose truth carries
white grain the blend falls 1-2 dB short of its best candidate
(``learned_step-v7-grain5.json``); a truth with grain is not smoother than 1/f^2 at high
frequencies, as clean radiographs are, so the balance the data wants moves while ``b``
hardly does. This trial measures, per noise-free validation crop (``--images`` images,
the benchmark's 7 blurs, each bit depth of ``--bits``, with and without white grain of
``--grain`` / 255 in the truth):

* the best Wiener balance over :data:`kernel_aware_oracle.WIENER_BALANCES` (masked
  borders; an oracle: it reads the sharp crop);
* ``b`` as the step computes it (noise where the kernel leaves no signal, 2e-4 floor in
  quadrature), and ``b_upper``: the same from the median ``c`` of the upper half of the
  signal-dominated rings only (:func:`xraydeblur.classical.signal_rings`).

It prints, per anchor, the mean and spread of ``log10(best / anchor)`` with and without
grain. An anchor the blend can rely on moves little with grain. Validation split only::

    python benchmarks/trials/balance_anchor.py --images 4 --bits 8 10 12 --grain 5 --out benchmarks/results/trials/balance_anchor.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: the learned step's noise floor ([0, 1] units, in quadrature: its JSON's ``noise_floor``)
NOISE_FLOOR = 2e-4


def upper_ring_balance(degraded: np.ndarray, kernel: np.ndarray, noise: float) -> float:
    """``noise^2 / c`` with ``c`` the median signal level of the upper half (by frequency)
    of the signal-dominated rings of ``degraded`` (H, W, [0, 1]) under ``kernel``;
    ``estimate_balance``'s value where fewer than two rings are signal-dominated."""
    from xraydeblur.classical import estimate_balance, signal_rings

    c, _, strong = signal_rings(degraded, kernel, noise)
    rings = np.flatnonzero(strong)
    if len(rings) < 2:
        return float(estimate_balance(degraded, kernel, "gradient", noise_sigma=noise))
    upper = c[rings[len(rings) // 2 :]]
    return float(noise * noise / np.median(upper))


def main() -> None:
    import argparse

    from _trial import crops_at_bits, write_trial
    from kernel_aware_oracle import WIENER_BALANCES
    from xraydeblur.classical import estimate_balance, kernel_noise_sigma, wiener
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[8, 10, 12])
    p.add_argument("--grain", type=float, default=5.0, help="white grain in the truth, standard deviation in 1/255 (also run without)")
    p.add_argument("--out")
    args = p.parse_args()
    samples = []
    for grain in (0.0, args.grain / 255):
        for suffix, case, sharp, degraded, kernel in crops_at_bits(args.images, args.crop, args.bits, grain=grain):
            if case.degradation.dose:
                continue  # noise-free rows only: where the blend falls short
            noise = float(np.hypot(kernel_noise_sigma(degraded, kernel), NOISE_FLOOR))
            anchors = {"b": float(estimate_balance(degraded, kernel, "gradient", noise_sigma=noise)), "b_upper": upper_ring_balance(degraded, kernel, noise)}
            best_psnr, best = max((psnr(sharp, np.clip(wiener(degraded, kernel, balance=b), 0, 1)), b) for b in WIENER_BALANCES)
            row = {"family": case.family + suffix, "image": case.row.file, "grain_255": grain * 255, "best_balance": best, "best_psnr": best_psnr, **anchors}
            row["log_best_over"] = {k: float(np.log10(best / v)) for k, v in anchors.items()}
            samples.append(row)
            print(row["family"], {k: round(v, 2) for k, v in row["log_best_over"].items()}, flush=True)
    table = {}
    print("\n| anchor | grain | mean log10(best / anchor) | spread (sd) | crops |\n|---|---|---|---|---|")
    for anchor in ("b", "b_upper"):
        for grain in sorted({s["grain_255"] for s in samples}):
            values = [s["log_best_over"][anchor] for s in samples if s["grain_255"] == grain]
            table[f"{anchor} grain{grain:g}"] = {"mean": float(np.mean(values)), "sd": float(np.std(values)), "crops": len(values)}
            print(f"| {anchor} | {grain:g}/255 | {np.mean(values):+.2f} | {np.std(values):.2f} | {len(values)} |")
    write_trial(args.out, "benchmarks/trials/balance_anchor.py", table, samples)


if __name__ == "__main__":
    main()
