"""Trial (issue 26, speed): the learned data step's masked conjugate-gradient solves with
torch's FFT instead of scipy's, and how exact the shipped float32 solves are.

The learned step (:mod:`xraydeblur.infer.learned_step`) runs 14 masked Wiener solves
(:func:`xraydeblur.classical._common.masked_solve`, up to 200 iterations of two FFTs
each); on a noise-free 2048 px radiograph they are most of its time. This times the
step on one whole real DICOM of the shared data (``--dicom``, blurred here with a
Gaussian of sigma ``--sigma`` px and rounded to its own bit depth, optionally with
the benchmark's noise, ``--noisy``), the blind network's output as the estimate, three
ways:

* as shipped (scipy FFT, float32 spectra);
* the same algorithm on torch tensors (torch FFT and element-wise ops, float32);
* the same algorithm in float64 (scipy), as a reference for the float32 rounding.

It prints seconds and the differences of the step's output (max / mean, and max away
from the border) against the shipped one, and writes a JSON::

    python benchmarks/trials/cg_backend.py --out benchmarks/results/trials/cg_backend.json

No test or validation split is scored: the DICOMs are public test data, not
radiographs of the benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def torch_masked_solve(ext, otf, q, rhs, x0, iterations=50, tol=1e-6, weights=None):
    """:func:`xraydeblur.classical._common.masked_solve` on torch tensors (same steps)."""
    import torch

    shape, width = ext.shape, ext.shape[1]

    def dot(X, Y):
        d = 2.0 * torch.vdot(X.reshape(-1), Y.reshape(-1)).real - torch.vdot(X[:, 0], Y[:, 0]).real
        if width % 2 == 0:
            d = d - torch.vdot(X[:, -1].contiguous(), Y[:, -1].contiguous()).real
        return float(d)

    m = torch.from_numpy(ext.mask(weights).astype(np.float32))
    H = torch.from_numpy(otf.astype(np.complex64))
    Hc = H.conj().resolve_conj()
    Q = torch.from_numpy(np.asarray(q, np.float32))
    inverse = torch.from_numpy((1.0 / (np.abs(otf) ** 2 + q + 1e-12)).astype(np.float32))

    def A(P):
        return torch.fft.rfft2(torch.fft.irfft2(H * P, s=shape).mul_(m)).mul_(Hc).addcmul_(Q, P)

    B = torch.fft.rfft2(torch.from_numpy(rhs.astype(np.float32)))
    X = torch.fft.rfft2(torch.from_numpy(x0.astype(np.float32)))
    R = B - A(X)
    Z = R * inverse
    P = Z.clone()
    rz, bn = dot(R, Z), np.sqrt(dot(B, B)) or 1.0
    used = 0
    for used in range(1, iterations + 1):
        AP = A(P)
        pAp = dot(P, AP)
        if pAp <= 0:
            break
        a = rz / pAp
        X.add_(P, alpha=a)
        R.sub_(AP, alpha=a)
        if np.sqrt(max(dot(R, R), 0.0)) < tol * bn:
            break
        Z = torch.mul(R, inverse, out=Z)
        rz_new = dot(R, Z)
        P.mul_(rz_new / rz).add_(Z)
        rz = rz_new
    return torch.fft.irfft2(X, s=shape).numpy().astype(np.float64), used


def float64_masked_solve(ext, otf, q, rhs, x0, iterations=50, tol=1e-6, weights=None):
    """The shipped solve in double precision (a rounding reference)."""
    from xraydeblur.classical._common import masked_solve

    return masked_solve(ext, otf, q, rhs, x0, iterations, tol, weights, double=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dicom", default="dicom/966_fixed.dcm", help="relative to the data root")
    p.add_argument("--sigma", type=float, default=2.0)
    p.add_argument("--noisy", action="store_true", help="add the benchmark's noise (dose 2000, read noise 0.002) after the blur")
    p.add_argument("--out", default="benchmarks/results/trials/cg_backend.json")
    args = p.parse_args()

    from xraydeblur.classical import _common
    from xraydeblur.data import data_root
    from xraydeblur.degrade import blur, gaussian_kernel, poisson_gaussian_noise, quantize
    from xraydeblur.infer.learned_step import learned_step
    from xraydeblur.io import read_radiograph
    from xraydeblur.methods import get_method

    wiener_module = sys.modules["xraydeblur.classical.wiener"]
    rad = read_radiograph(str(data_root() / args.dicom))
    kernel = gaussian_kernel(args.sigma)
    y = blur(np.asarray(rad.pixels, np.float64), kernel)
    if args.noisy:
        y = poisson_gaussian_noise(y, 2000.0, 0.002, seed=0)
    y = quantize(np.clip(y, 0, 1), rad.bits_stored).astype(np.float32)
    z = get_method("nafnet-blind")(y)
    outputs, seconds = {}, {}
    for name, solve in (("scipy float32 (shipped)", _common.masked_solve), ("torch float32", torch_masked_solve), ("scipy float64", float64_masked_solve)):
        wiener_module.masked_solve = solve
        started = time.perf_counter()
        outputs[name] = learned_step(y, z, kernel)
        seconds[name] = round(time.perf_counter() - started, 2)
        print(f"{name:26s} {seconds[name]:7.2f} s", flush=True)
    wiener_module.masked_solve = _common.masked_solve
    shipped = outputs["scipy float32 (shipped)"]
    inner = (slice(32, -32), slice(32, -32))
    differences = {}
    for name, out in outputs.items():
        d = np.abs(out - shipped)
        differences[name] = {"max": float(d.max()), "mean": float(d.mean()), "max_32px_in": float(d[inner].max())}
    reference = outputs["scipy float64"]
    d = np.abs(shipped - reference)
    rounding = {"max": float(d.max()), "mean": float(d.mean()), "max_32px_in": float(d[inner].max()), "p99.99_32px_in": float(np.quantile(d[inner], 0.9999))}
    for name, r in differences.items():
        print(f"{name:26s} against shipped: max {r['max']:.2e}, mean {r['mean']:.2e}, max 32 px in {r['max_32px_in']:.2e}")
    result = {"command": "python benchmarks/trials/cg_backend.py " + " ".join(sys.argv[1:]), "dicom": args.dicom, "shape": list(y.shape), "bits_stored": rad.bits_stored,
              "sigma_px": args.sigma, "noisy": args.noisy, "seconds": seconds, "against_shipped": differences, "shipped_against_float64": rounding}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
