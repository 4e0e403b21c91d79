"""Trial (issue 26): one rule for the kernel-aware data step, derived from the data,
against the shipped per-class gain tables and the classical oracles.

The step combines the network output ``z`` with the known blur per frequency as a
Wiener filter would, with both variances measured on the image itself:

* the residual ``r = y - k * z`` is ``K E + N`` in frequency (``E`` the network's
  error, ``N`` the noise, rounding included);
* the noise power is the residual's mean power where the kernel passes almost nothing
  (:func:`noise_floor`), at least the input's own rounding noise: there only noise is left;
* the network's error power ``P_e`` per block of 8 x 8 frequencies by maximum
  likelihood (:func:`_block_ml_power`; no step where a score test finds no excess over
  the noise), at most a power law fitted to the input's spectrum where the blur passes
  it (:func:`_power_law`: an error larger than the signal is implausible; without
  this bound, chance excesses where ``K`` is ~0 blow up);
* ``x = z + F^-1[ conj(K) R / (|K|^2 + noise / P_e) ]``.

No table, no tuned gain: a new bit depth changes the measured noise floor, a new blur
family the kernel. Three forms are scored:

* "windowed spectral step": the formula above by FFT on the residual with its border
  (a kernel radius) windowed out, so the border keeps the network output;
* "masked spectral step": the same per-frequency regulariser ``noise / P_e`` in the
  masked conjugate-gradient solve the shipped step uses (borders solved);
* "EM-balance step": the shipped step's single gradient balance, chosen per image by
  empirical Bayes on the residual (:func:`em_balance`) instead of from the tables.

Scored on validation crops (the fixed benchmark's degradations, ``--images`` evenly
spaced validation images, 256 px, at each of ``--bits``; 0 = float), PSNR against
the sharp crop: the blind network, the shipped step (``nafnet-kernel``'s gains), this
rule, and Wiener with its best balance per image (the oracle).

    python benchmarks/trials/spectral_data_step.py --out benchmarks/results/trials/spectral_data_step.json
"""

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

#: side of the square blocks of frequency samples the error power is averaged over
BLOCK = 8
#: standard deviations of the score test at P_e = 0 a block of frequencies must pass
SIGNIFICANCE = 3.0


def spectral_step(y: np.ndarray, z: np.ndarray, kernel: np.ndarray, block: int = BLOCK) -> tuple[np.ndarray, float]:
    """The rule above by FFT, on the residual zero-padded by a kernel size (its border
    windowed out by :func:`error_power`, so the border keeps the network output); y, z
    float (H, W) in [0, 1], kernel (K, K). Returns (float32 (H, W), noise variance)."""
    from xraydeblur.classical._common import irfft2, psf2otf
    from xraydeblur.degrade import blur

    h, w = y.shape
    pad = max(kernel.shape)
    shape = (h + 2 * pad, w + 2 * pad)
    r = y.astype(np.float64) - blur(z, kernel, dtype=np.float64)
    noise, pe, K2, R = error_power(y, r, kernel, shape, (pad, pad), block)
    K = psf2otf(kernel / kernel.sum(), shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = np.where(pe > 0, np.conj(K) / (K2 + noise / np.where(pe > 0, pe, 1.0)), 0.0)
    correction = irfft2(gain * R, shape)[pad : pad + h, pad : pad + w]
    return np.clip(z + correction, 0, 1).astype(np.float32), noise


def em_balance(y: np.ndarray, z: np.ndarray, kernel: np.ndarray, regulariser: str = "gradient", iterations: int = 50, tol: float = 1e-4) -> tuple[float, float]:
    """(balance, noise sigma) of the data step by empirical Bayes on the residual
    ``r = y - k * z = k * e + n``: the network's error ``e`` with prior
    ``CN(0, 1/(g_e |D|^2))``, the noise ``n`` white with variance ``1/g_n``, at least
    the input's own rounding noise (:func:`xraydeblur.classical.psf_search.rounding_floor`);
    EM as :func:`xraydeblur.classical.unsupervised_wiener` runs it on an image, here on
    the residual. The balance is ``g_e / g_n``."""
    from xraydeblur.classical._common import estimate_noise_sigma, extend, psf2otf, regulariser_power, rfft2
    from xraydeblur.classical.psf_search import rounding_floor
    from xraydeblur.classical.wiener import em_precisions
    from xraydeblur.degrade import blur

    floor = rounding_floor(y)
    r = y.astype(np.float64) - blur(z, kernel, dtype=np.float64)
    ext = extend(r, kernel.shape)
    n = ext.data.size
    width = ext.shape[1]
    R = rfft2(ext.data) / np.sqrt(n)
    H = psf2otf(kernel / kernel.sum(), ext.shape)
    D2 = regulariser_power(regulariser, ext.shape)
    g_n = 1.0 / max(estimate_noise_sigma(y) ** 2, floor)
    g_n, g_e, _ = em_precisions(R, H, D2, width, g_n, g_n * 1e-3, floor, iterations, tol)
    balance = g_e / g_n
    return float(balance), float(g_n**-0.5)


def error_power(y, r, kernel, grid_shape, top_left, block=BLOCK):
    """(noise variance, P_e per frequency, |K|^2, the residual's spectrum), all on the
    real-FFT grid of ``grid_shape``, from the residual ``r`` (H, W) placed at
    ``top_left`` of a zero grid after the interior window (a kernel radius of border
    left out: there the blur also brought in what lies outside the image; then a
    raised-cosine ramp)."""
    from xraydeblur.classical._common import psf2otf, rfft2
    from xraydeblur.classical.psf_search import rounding_floor

    h, w = r.shape
    half = max(kernel.shape) // 2
    ramp_px = half + 8

    def edge_weight(n: int) -> np.ndarray:
        d = np.minimum(np.arange(n), np.arange(n)[::-1]).astype(np.float64)
        return np.clip(0.5 - 0.5 * np.cos(np.pi * np.clip((d - half) / ramp_px, 0, 1)), 0, 1)

    window = edge_weight(h)[:, None] * edge_weight(w)[None, :]
    t, l = top_left
    place = lambda a: np.pad(a, ((t, grid_shape[0] - h - t), (l, grid_shape[1] - w - l)))  # noqa: E731
    R = rfft2(place(r * window))
    R2 = np.abs(R) ** 2
    K2 = np.abs(psf2otf(kernel / kernel.sum(), grid_shape)) ** 2
    scale = float((window**2).sum())
    noise = max(noise_floor(R2 / scale, K2), rounding_floor(y), 1e-14)
    signal = np.abs(rfft2(place((y - (y * window).sum() / window.sum()) * window))) ** 2 / scale
    pe = np.minimum(_block_ml_power(R2 / scale, K2, noise, block), _power_law(signal, K2))
    return noise, pe, K2, R


def noise_floor(P: np.ndarray, K2: np.ndarray) -> float:
    """Noise variance from a residual periodogram ``P`` (per pixel): its mean over the
    frequencies the kernel passes least, ``|K|^2 < 1e-6`` where they cover 2 % of the
    grid, else the 2 % with the smallest ``|K|^2``. (A laxer band, ``|K|^2 < 1e-3``,
    counted the network's error leaking through ``K`` as noise on noise-free input.)"""
    band = K2 < 1e-6
    if band.mean() < 0.02:
        band = K2 <= np.quantile(K2, 0.02)
    return float(P[band].mean())


def _blocks(a: np.ndarray, block: int) -> np.ndarray:
    """(H, W) -> (H/b, W/b, b*b) blocks of frequency samples, NaN-padded at the ends."""
    ph, pw = -a.shape[0] % block, -a.shape[1] % block
    a = np.pad(a, ((0, ph), (0, pw)), constant_values=np.nan)
    ny, nx = a.shape[0] // block, a.shape[1] // block
    return a.reshape(ny, block, nx, block).transpose(0, 2, 1, 3).reshape(ny, nx, block * block)


def _block_ml_power(P: np.ndarray, K2: np.ndarray, noise: float, block: int, iterations: int = 8) -> np.ndarray:
    """The network's error power per block of frequencies, by maximum likelihood for
    periodogram values ``P ~ Exp(|K|^2 P_e + noise)`` (Fisher scoring from the moment
    estimate), 0 where the score test at ``P_e = 0`` is below :data:`SIGNIFICANCE`
    standard deviations. Returned on the grid of ``K2``."""
    Pb, Kb = _blocks(P, block), _blocks(K2, block)
    score = np.nansum(Kb * (Pb - noise), -1) / noise**2
    spread = np.sqrt(np.nansum(Kb**2, -1)) / noise
    pe = np.maximum(np.nansum(Pb - noise, -1) / np.maximum(np.nansum(Kb, -1), 1e-30), 0.0)
    for _ in range(iterations):
        v = Kb * pe[..., None] + noise
        step = np.nansum(Kb * (Pb - v) / v**2, -1) / np.maximum(np.nansum(Kb**2 / v**2, -1), 1e-300)
        pe = np.maximum(pe + step, 0.0)
    pe = np.where(score > SIGNIFICANCE * spread, pe, 0.0)
    return np.repeat(np.repeat(pe, block, 0), block, 1)[: K2.shape[0], : K2.shape[1]]


def _power_law(Y2, K2):
    """The sharp image's power per frequency as a power law ``A |f|^-b`` fitted to the
    input's power ``Y2`` divided by ``|K|^2`` where the blur passes at least half the
    power (``|K|^2 >= 0.5``), on the real-FFT grid of ``K2``: an error cannot exceed the
    signal."""
    fy = np.fft.fftfreq(K2.shape[0])[:, None]
    fx = np.fft.rfftfreq((K2.shape[1] - 1) * 2)[None, :]
    rho = np.hypot(fy, fx)
    use = (K2 >= 0.5) & (rho > 2.0 / K2.shape[0])
    edges = np.geomspace(rho[use].min(), rho[use].max() + 1e-9, 12)
    xs, ys = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = use & (rho >= lo) & (rho < hi)
        if sel.sum() >= 8:
            xs.append(np.log(rho[sel].mean()))
            ys.append(np.log((Y2[sel] / K2[sel]).mean()))
    slope, intercept = np.polyfit(xs, ys, 1) if len(xs) >= 2 else (-2.5, np.log(max(Y2.mean(), 1e-12)))
    return np.exp(intercept) * np.maximum(rho, 1.0 / K2.shape[0]) ** min(slope, 0.0)


def masked_spectral_step(y, z, kernel, cg_iterations=200, block=BLOCK):
    """The per-frequency Wiener regulariser ``noise / P_e`` of :func:`error_power` in
    the masked conjugate-gradient solve of :func:`xraydeblur.classical.wiener_correction`
    (borders solved, not windowed away). Float32 (H, W)."""
    from xraydeblur.classical._common import extend, psf2otf
    from xraydeblur.classical.wiener import _solve
    from xraydeblur.degrade import blur

    k = kernel / kernel.sum()
    r = y.astype(np.float64) - blur(z, k, dtype=np.float64)
    ext = extend(r, k.shape)
    top_left = (ext.window[0].start, ext.window[1].start)
    noise, pe, K2, _ = error_power(y, r, k, ext.shape, top_left, block)
    q = np.where(pe > 0, noise / np.maximum(pe, 1e-30), 1e12)
    correction = ext.crop(_solve(ext, psf2otf(k, ext.shape), q, "masked", cg_iterations))
    return np.clip(z + correction, 0, 1).astype(np.float32)


def main() -> None:
    from _trial import crops_at_bits
    from kernel_aware_oracle import oracle_wiener

    from xraydeblur.classical import wiener_correction
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=6)
    p.add_argument("--crop", type=int, default=256)
    p.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    p.add_argument("--block", type=int, default=BLOCK)
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    blind = get_method("nafnet-blind")
    records = []
    for suffix, case, sharp, degraded, kernel in crops_at_bits(args.images, args.crop, args.bits):
        key, family = case.key + suffix, case.family + suffix
        z = blind(degraded, None)
        shipped = data_step(degraded, z, kernel)
        windowed, noise = spectral_step(degraded, z, kernel, args.block)
        balance, em_noise = em_balance(degraded, z, kernel)
        em = wiener_correction(degraded, z, kernel, balance, "gradient", cg_iterations=200)
        masked = masked_spectral_step(degraded, z, kernel, block=args.block)
        rec = {"case": key, "row": family, "blind": psnr(sharp, z), "shipped step": psnr(sharp, shipped), "windowed spectral step": psnr(sharp, windowed), "EM-balance step": psnr(sharp, em), "masked spectral step": psnr(sharp, masked),
               "em_balance": balance, "em_noise_sigma": em_noise,
               "noise_sigma": noise**0.5}
        rec["wiener oracle"] = oracle_wiener(sharp, degraded, kernel)[0]
        records.append(rec)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in rec.items()}), flush=True)
    cols = ("blind", "shipped step", "windowed spectral step", "EM-balance step", "masked spectral step", "wiener oracle")
    by_row = defaultdict(list)
    for r in records:
        by_row[r["row"]].append(r)
    table = {row: {c: float(np.mean([r[c] for r in items])) for c in cols} for row, items in by_row.items()}
    print("\n| row | " + " | ".join(cols) + " | masked - oracle | masked - shipped |")
    for row, t in table.items():
        print(f"| {row} | " + " | ".join(f"{t[c]:.2f}" for c in cols) + f" | {t['masked spectral step'] - t['wiener oracle']:+.2f} | {t['masked spectral step'] - t['shipped step']:+.2f} |")
    if args.out:
        args.out.write_text(json.dumps({"command": "python benchmarks/trials/spectral_data_step.py " + " ".join(sys.argv[1:]), "split": "val", "table": table, "records": records}, indent=1) + "\n")


if __name__ == "__main__":
    main()
