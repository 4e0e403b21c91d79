"""How sure is each margin of the flagship table? Per-image paired PSNR differences
from a benchmark JSON written by ``xraydeblur evaluate``:

    python scripts/paired_table.py docs/results/benchmark-patient.json

For every degradation row: ``kernel − blind`` (the kernel-aware model given the true
kernel minus the blind flagship) and ``blind − classical`` (the blind flagship minus the
best classical method given the true kernel, chosen by its mean as in
``scripts/flagship_table.py``), each as the mean over images, a 95 % confidence interval
of that mean (Student t, paired by image, n - 1 degrees of freedom) and the number of
images on which the difference is positive. When the JSON has the PSF-identifying
flagship (``nafnet-psf``), two more: ``psf − blind`` and ``psf − classical``. An interval that contains 0 means the 12
benchmark images cannot tell the two methods apart on that row.
"""

import json
import sys
from collections import defaultdict

import numpy as np
from scipy import stats

FLAGSHIP, KERNEL_AWARE = "nafnet-blind [blind]", "nafnet-kernel [true kernel]"
IDENTIFYING = "nafnet-psf [blind]"
CLASSICAL_TRUE = ("wiener [true kernel]", "richardson-lucy [true kernel]", "low-rank [true kernel]")


def paired(a: dict, b: dict) -> tuple[float, float, float, int, int]:
    """(mean, CI low, CI high, wins, n) of a - b over the images both have (dB)."""
    d = np.array([a[k] - b[k] for k in a if k in b])
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half), int((d > 0).sum()), len(d)


def main(path: str) -> None:
    data = json.load(open(path))
    per = defaultdict(lambda: defaultdict(dict))  # family -> variant -> image -> PSNR
    for rec in data["records"]:
        per[rec["family"]][rec["variant"]][rec["case"].split("::")[0]] = rec["psnr"]
    with_psf = any(IDENTIFYING in variants for variants in per.values())
    extra = " psf − blind (95 % CI) | psf wins | psf − best classical true k (95 % CI) | psf wins |" if with_psf else ""
    print(f"| degradation | kernel − blind (95 % CI) | kernel wins | blind − best classical true k (95 % CI) | blind wins |{extra}")
    print("|---|---|---|---|---|" + ("---|---|---|---|" if with_psf else ""))
    for family, variants in per.items():
        classical = max((v for v in CLASSICAL_TRUE if v in variants), key=lambda v: np.mean(list(variants[v].values())))
        pairs = [(KERNEL_AWARE, FLAGSHIP), (FLAGSHIP, classical)] + ([(IDENTIFYING, FLAGSHIP), (IDENTIFYING, classical)] if with_psf else [])
        cells = []
        for a, b in pairs:
            mean, lo, hi, wins, n = paired(variants[a], variants[b])
            cells += [f"{mean:+.2f} ({lo:+.2f} to {hi:+.2f})", f"{wins}/{n}"]
        print(f"| {family} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/results/benchmark-patient.json")
