"""Trial (issue 26): is the kernel-aware mode held back by its prior? One more
plug-and-play iteration with the blind network as the denoiser, on the VALIDATION split
(the test split is never read).

The shipped ``nafnet-kernel`` is ``x = step(y, z, k)`` with ``z = net(y)``, the blind
network's output, as the anchor of the data step (:func:`xraydeblur.infer.data_step`).
On noise-free 8-bit input that anchor is the weak part: with its best gain per image the
step stays below Wiener with its best balance per image (CHANGELOG, ``gcv_data_step``).
Half-quadratic splitting would alternate the two: the data step, then the network on its
result, then the data step anchored there. Scored per crop (the fixed benchmark's
noise-free and noisy degradations of ``--images`` evenly spaced validation images,
``--crop`` px, at each input bit depth of ``--bits``; 0 = float), PSNR (dB) against the
sharp crop of:

* ``blind``: ``z = net(y)``;
* ``shipped``: ``nafnet-kernel`` with the true kernel;
* ``net(wiener)``: the network on Wiener's output (tuned balance, true kernel);
* ``step(net(wiener))``: the data step anchored at that;
* ``step(net(shipped))``: one more iteration after the shipped result;
* ``wiener``: Wiener with its tuned balance (:func:`xraydeblur.classical.wiener`'s default);
* ``mean(shipped, wiener)``: the two averaged pixel by pixel;
* ``wiener oracle``: Wiener with its best balance per image (an oracle no user has).

    python benchmarks/trials/pnp_iteration.py --images 4 --bits 0 8 12 --out benchmarks/results/trials/pnp_iteration.json
"""

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

COLUMNS = ("blind", "shipped", "net(wiener)", "step(net(wiener))", "step(net(shipped))", "wiener", "mean(shipped, wiener)", "wiener oracle")


def main() -> None:
    from _trial import crops_at_bits, print_markdown, row_means, write_trial
    from kernel_aware_oracle import oracle_wiener

    from xraydeblur.classical import wiener
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    p.add_argument("--out")
    args = p.parse_args()
    net, kernel_aware = get_method("nafnet-blind"), get_method("nafnet-kernel")
    samples = []
    for suffix, case, sharp, y, k in crops_at_bits(args.images, args.crop, args.bits):
        z = np.asarray(net(y, None), np.float32)
        shipped = np.asarray(kernel_aware(y, k), np.float32)
        tuned = np.clip(wiener(y, k), 0, 1).astype(np.float32)
        on_wiener = np.asarray(net(tuned, None), np.float32)
        again = np.asarray(net(shipped, None), np.float32)
        outs = {
            "blind": z,
            "shipped": shipped,
            "net(wiener)": on_wiener,
            "step(net(wiener))": data_step(y, on_wiener, k),
            "step(net(shipped))": data_step(y, again, k),
            "wiener": tuned,
            "mean(shipped, wiener)": 0.5 * (shipped + tuned),
        }
        scores = {name: psnr(sharp, np.clip(out, 0, 1)) for name, out in outs.items()}
        scores["wiener oracle"] = oracle_wiener(sharp, y, k)[0]
        samples.append({"case": case.key + suffix, "family": case.family + suffix, "psnr": scores})
        print(case.key + suffix, {n: round(v, 2) for n, v in scores.items()}, file=sys.stderr, flush=True)
    table = row_means(samples, COLUMNS)
    print_markdown(table, COLUMNS, {"best - oracle": lambda r: f"{max(r[c] for c in COLUMNS[:-1]) - r['wiener oracle']:+.2f}"})
    write_trial(args.out, "benchmarks/trials/pnp_iteration.py", table, samples)


if __name__ == "__main__":
    main()
