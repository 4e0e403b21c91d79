"""Trial (issue 26): a learned non-blind step instead of the data step's per-class gain
tables. Training split for training, VALIDATION split for scoring (the test split is
never read).

The kernel-aware mode (``nafnet-kernel``) is the blind network's output ``z`` corrected
by one masked Wiener solve whose weight comes from a table per blur family, width and
bit depth (:data:`xraydeblur.infer.data_step.GAINS`) on noise-free input and from
Morozov's rule on noisy input. Given the true kernel it is still below Wiener with its
best balance per image on the noise-free 8-bit rows. This trial asks whether a small
network, conditioned on the measured noise, does better than the tables from
candidates no table chooses:

* ``z``, the blind network's output;
* ``z`` corrected by the Wiener solve at gains :data:`GAINS` times the MMSE balance at
  the noise measured where the kernel leaves no signal
  (:func:`xraydeblur.classical.kernel_noise_sigma`, rounding included;
  :func:`xraydeblur.classical.estimate_balance`);
* plain Wiener (prior centred on a flat image) at 0.1, 1 and 10 times that balance
  (``--wiener-gains``; the first run, ``learned_step-v1.json``, had 1 only).

The network (:class:`BlendNet`, about 25 k parameters, receptive field 23 px) blends the
candidates per pixel (softmax weights) and adds a small bounded residual; its inputs
are the candidates less ``z``, ``z``, the residual ``y - k * z`` and the log noise
level. It is trained on 128 px crops of training radiographs under random Gaussian,
anisotropic, disk and straight-motion PSFs, float / 8 / 10 / 12-bit rounding and no to
strong Poisson noise (1e7 to 2e3 photons), with the loss ``mean(log MSE)`` (the mean
PSNR of the crops), on one CPU process with 2 threads.

Scores on the benchmark's validation crops (``--images`` images, 256 px, 14
degradations, float / 8 / 12 bit; ``--dose``: the noise-free float crops with weak
Poisson noise instead): the blind network, the data step with the gain tables
("shipped": what shipped before the learned step), the best single candidate per image (oracle), the learned blend and Wiener with its best balance per
image (oracle). Runs (``benchmarks/results/trials/learned_step*.json`` list each
command):

    python benchmarks/trials/learned_step.py make-data --samples 1500 --worker 0 --cache /tmp/learned_step2
    python benchmarks/trials/learned_step.py make-data --samples 1500 --worker 1 --cache /tmp/learned_step2
    python benchmarks/trials/learned_step.py train --cache /tmp/learned_step2 --minutes 30 --threads 2
    python benchmarks/trials/learned_step.py evaluate --cache /tmp/learned_step2 --bits 0 12 --out a.json
    python benchmarks/trials/learned_step.py evaluate --cache /tmp/learned_step2 --bits 8 --out b.json
    python benchmarks/trials/learned_step.py merge a.json b.json --out benchmarks/results/trials/learned_step.json
    python benchmarks/trials/learned_step.py evaluate --cache /tmp/learned_step2 --bits 0 --dose 1e7 \
        --out benchmarks/results/trials/learned_step-dose1e7.json

v3 (``learned_step-v3.json``): finer candidate grids (corrections at 0.01 to 10 and plain
Wiener at 0.1 to 10 times the MMSE balance, both in steps of about 3 / 2.2: the Wiener
grid as fine as the oracle's), PSFs from the training distribution's families
(:func:`sampler_kernel`: curved motion and exponential too), and a wider, deeper network
conditioned on the MMSE balance as well (:data:`NETS`, 65 k parameters)::

    python benchmarks/trials/learned_step.py make-data --samples 1300 --worker 0 --cache /tmp/ls3 \
        --kernels sampler --net v3 --gains 0.01 0.03 0.1 0.3 1 3 10 \
        --wiener-gains 0.1 0.22 0.46 1 2.2 4.6 10      (and --worker 1)
    python benchmarks/trials/learned_step.py train --cache /tmp/ls3 --minutes 50 --threads 2
    python benchmarks/trials/learned_step.py evaluate --cache /tmp/ls3 --bits 0 12 --out a.json
    python benchmarks/trials/learned_step.py evaluate --cache /tmp/ls3 --bits 8 --out b.json
    python benchmarks/trials/learned_step.py merge a.json b.json --out benchmarks/results/trials/learned_step-v3.json

and the same candidates with the v2 network (``learned_step-v3-net2.json``): a second
cache folder holding links to the same ``part-*.npz`` and the same ``meta.json`` with
``"net": "v2"``, trained 30 min, evaluated and merged as above.

v4 (``learned_step-v4.json``, shipped as :mod:`xraydeblur.infer.learned_step`): the v2
network plus an image context (:data:`NETS`), started from the v2 run's weights with
``train --init``, on whole 128 px crops (``--patch 128 --batch 8 --lr 1e-3``), then
``export``. A step for the networks retrained with a source held out (the
unseen-source benchmark must not score a step trained on that source's patients)::

    python benchmarks/trials/learned_step.py make-data --samples 1300 --worker 0 --cache /tmp/ls-mhh \
        --kernels sampler --net v4 --gains 0.01 0.03 0.1 0.3 1 3 10 --wiener-gains 0.1 0.22 0.46 1 2.2 4.6 10 \
        --scheme source --held-out mhh --weights-dir benchmarks/weights/unseen-mhh      (and --worker 1)
    python benchmarks/trials/learned_step.py train --cache /tmp/ls-mhh --minutes M --threads 2 --patch 128 --batch 8
        (checkpoint: training/learned-step/unseen-mhh/blend.pt; copy it into the cache to resume)

``evaluate`` on such a cache scores that split's validation images with its networks.

v7 (shipped; ``learned_step-v7.json``): on a source never seen in training the blind
network barely deblurs (its output within -0.35 to +0.82 dB of its input,
``step_on_unseen_source.py``), an estimate the blend
had never been given. ``make-data --under-restore 1.0`` writes crops whose ``z`` is
that of a network that under-restores, ``z + t (y - z)`` with ``t`` uniform in [0, 1];
700 of them (``--worker 2``, a part beside links to v6's two parts) and 35 min more
training from v6's weights (``--lr 5e-4 --init training/learned-step/v6/blend.pt``).

Why the step still falls short on that source at 8-10 bit: its radiographs carry their
own grain (median 5.6/255 by the Laplacian's MAD against 0.7 for NIH and 2.8 for the
Kermany JPEGs: ``source_grain.py``), part of the truth the benchmark scores against. ``evaluate --grain 5``
adds white grain of 5/255 to the validation radiographs before the crop and reproduces
it on validation (``learned_step-{v7,unseen-mhh-v7}-grain5.json``: 8-bit disk 1.71 dB
below the per-image Wiener oracle with the mhh-held-out step, the unseen source's test
rows 1.65); ``--downscale 2.5`` (a coarser pixel pitch, as the source's 640 px exports)
does not (``-pitch2.5.json``: at or above it on 26 and 27 of 28 rows). v8 (not shipped;
``learned_step-{v8,unseen-mhh-v8}*.json``): v7 trained 35 min more with 800 crops
whose sharp image carries grain (``make-data --grain 8``: sd uniform in [0, 8/255])
beside v7's 3300; validation within -0.12 to +0.07 dB of v7 (mhh held out -0.34 to
+0.17), and no better on the whole with grain in the truth. v9 (a trial on the
mhh-held-out step; ``learned_step-unseen-mhh-{v9,v9-control}*.json``): the blend given
:func:`local_snr`, v7 fine-tuned on 2000 new crops (40 % grainy truths, 20 %
under-restored) against a control fine-tuned on the same crops without it. The map helps:
standard validation -0.24 to +0.28 dB from v7 (control -1.04 to +0.30), noise-free grainy
rows -0.20 dB from the oracle on average (control -0.31, v7 -0.34), but 10-bit 5 px
motion -1.13 (v7 -0.33).

v10 / v11 (``learned_step-{v10,v11,unseen-mhh-v10,unseen-mhh-v11}*.json`` list each
command; v11 shipped for both steps): v9's map for both steps on 2000 new crops each (``make-data --net v9
--grain 8 --grain-share 0.5 --under-restore 0.2 --noise-free-share 0.75``), 35 min from
v7 / v9; then ``--net v11`` (three maps: :data:`NETS`), 35 min more on the same crops.
Packaged v11: within -0.07 to +0.19 dB of v7 on every validation row; the mhh-held-out
one much better with grain but 0.60 dB below v7 on the 12-bit disk; 10-bit 5 px motion
with grain still 0.7 dB below the oracle for both (docs/results.md section 10). v12
(trial, mhh-held-out step): v11 fine-tuned on crops half at 10 / 12 bit (``make-data
--bits 10 12``); that row -0.62 dB (``learned_step-unseen-mhh-v12*.json``).

The cache (derived from the radiographs) lives outside the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

#: gains (times the MMSE balance at the measured noise) of the data-step candidates
GAINS = (0.01, 0.1, 1.0, 10.0)
#: gains (times that balance) of the plain Wiener candidates: ``make-data --wiener-gains``
#: (the first run had 1 only), kept in the cache's ``meta.json``
WIENER_GAINS = (0.1, 1.0, 10.0)
#: crop side (px) of the training samples, and the blur context cut off around it
CROP, CONTEXT = 128, 24
#: (photons at full scale, 0 = none) and their draw weights: noise-free input is where
#: the tables live, so it gets half the samples
DOSES = ((0.0, 0.5), (1e7, 0.125), (1e6, 0.125), (2e4, 0.125), (2e3, 0.125))
BITS = (0, 8, 10, 12)


def candidates(
    degraded: np.ndarray, kernel: np.ndarray, z: np.ndarray, wiener_gains=WIENER_GAINS, gains=GAINS, boundary: str = "masked", noise_floor: float = 0.0
) -> tuple[float, float, np.ndarray]:
    """(measured noise, MMSE balance at it, float32 (1 + len(gains) + len(wiener_gains), H, W)
    stack: z, the corrections at each of ``gains``, plain Wiener at each of ``wiener_gains``),
    all table-free. ``boundary="mirror"``: every candidate by one FFT pass (no conjugate
    gradients; a few FFTs each) instead of the masked solves the network was trained on.
    ``noise_floor``: the balance is taken at ``hypot(noise, noise_floor)`` (``step_noise_floor.py``)."""
    from xraydeblur.classical import kernel_noise_sigma, wiener
    from xraydeblur.classical.wiener import _deconvolve
    from xraydeblur.degrade import blur
    from xraydeblur.infer.learned_step import candidate_balance, step_candidates

    settings = {"gains": list(gains), "wiener_gains": list(wiener_gains), "noise_floor": noise_floor,
                "strong_below": 0.1, "cg_iterations_strong": 200, "cg_iterations": 50, "cg_iterations_wiener": 100}
    noise = float(kernel_noise_sigma(degraded, kernel))
    balance = candidate_balance(degraded, kernel, noise, settings)
    if boundary == "masked":  # what the package solves (and the networks were trained on)
        return noise, balance, step_candidates(degraded, z, kernel, noise_sigma=noise, settings=settings)[1]
    y = degraded.astype(np.float64)
    k = kernel / kernel.sum()
    residual = y - blur(z.astype(np.float64), k)
    stack = [z]
    for gain in gains:
        stack.append(np.clip(z + _deconvolve(residual, k, balance * gain, "gradient", "mirror", 0), 0, 1))
    for gain in wiener_gains:
        stack.append(wiener(y, k, balance=balance * gain, boundary="mirror"))
    return noise, balance, np.stack(stack).astype(np.float32)


def sampler_kernel(rng: np.random.Generator) -> np.ndarray:
    """A PSF drawn from the training distribution's blur families
    (:class:`xraydeblur.data.pairs.DegradationSampler`, "realistic" preset: Gaussian,
    anisotropic, straight and curved motion, disk, exponential): the v3 runs' kernels."""
    from xraydeblur.data.pairs import DegradationSampler, preset

    return DegradationSampler(preset("realistic")).sample_blur(rng).kernel()


def random_kernel(rng: np.random.Generator) -> np.ndarray:
    from xraydeblur.degrade import make_kernel

    kind = rng.choice(["gaussian", "anisotropic", "disk", "motion"], p=[0.35, 0.15, 0.2, 0.3])
    if kind == "gaussian":
        return make_kernel("gaussian", sigma=float(rng.uniform(0.7, 3.5)))
    if kind == "anisotropic":
        return make_kernel("anisotropic", sigma=float(rng.uniform(0.7, 3.0)), sigma_y=float(rng.uniform(0.7, 3.0)), angle=float(rng.uniform(0, 180)))
    if kind == "disk":
        return make_kernel("disk", radius=float(rng.uniform(1.0, 3.0)))
    return make_kernel("motion", length=float(rng.uniform(3.0, 17.0)), angle=float(rng.uniform(0, 180)))


def dose_weights(noise_free_share: float | None = None) -> tuple[tuple, np.ndarray]:
    """(doses, their draw probabilities) of :data:`DOSES`; ``noise_free_share``: the
    noise-free crops' share instead of theirs, the noisy doses keeping their ratios."""
    doses, weights = zip(*DOSES)
    weights = np.array(weights, float) / sum(weights)
    if noise_free_share is not None:
        noisy = np.array([d > 0 for d in doses])
        weights = np.where(noisy, weights * (1 - noise_free_share) / weights[noisy].sum(), noise_free_share)
    return doses, weights


def make_data(args) -> None:
    """Write ``cache/part-<worker>.npz``: per sample the sharp crop, the residual
    ``y - k * z``, the candidates, the measured noise and MMSE balance, and (since v8)
    the degraded crop ``y`` and its kernel centred in 41 x 41 (``pad_kernel``)."""
    from xraydeblur.data import load_image, pad_kernel, split_rows
    from xraydeblur.degrade import blur, quantize
    from xraydeblur.degrade.noise import poisson_gaussian_noise
    from xraydeblur.methods import get_method

    from _trial import coarser_pitch, with_grain

    args.cache.mkdir(parents=True, exist_ok=True)
    meta = {"gains": args.gains, "wiener_gains": args.wiener_gains, "kernels": args.kernels, "net": args.net}
    if args.noise_floor:
        meta["noise_floor"] = args.noise_floor
    if args.under_restore:
        meta["under_restore"] = args.under_restore
    if args.grain > 0:
        meta["grain"] = {"max_sigma_255": args.grain, "share": args.grain_share}
    if args.noise_free_share is not None:
        meta["noise_free_share"] = args.noise_free_share
    if args.downscale > 1:
        meta["downscale"] = {"max_factor": args.downscale, "share": args.downscale_share}
    if sorted(args.bits) != sorted(BITS):
        meta["bits"] = args.bits
    if args.scheme != "patient":  # a step for the networks retrained with a source held out
        from xraydeblur.models.registry import register_weights_dir

        register_weights_dir(args.weights_dir)
        meta |= {"scheme": args.scheme, "held_out": args.held_out, "weights_dir": args.weights_dir}
    (args.cache / "meta.json").write_text(json.dumps(meta))
    draw_kernel = {"v2": random_kernel, "sampler": sampler_kernel}[args.kernels]
    rng = np.random.default_rng(1000 + args.worker)
    rows = split_rows("train", args.scheme, args.held_out)
    blind = get_method("nafnet-blind")
    sharp_all, residual_all, cand_all, noise_all, balance_all, degraded_all, kernel_all = [], [], [], [], [], [], []
    started = time.time()
    side = CROP + 2 * CONTEXT
    doses, weights = dose_weights(args.noise_free_share)
    images: dict = {}
    for i in range(args.samples):
        row = rows[int(rng.integers(len(rows)))]
        image = images.get(row.file)
        if image is None:
            image = images[row.file] = load_image(row)
            if len(images) > 64:
                images.pop(next(iter(images)))
        if args.downscale > 1 and rng.random() < args.downscale_share:  # a coarser pixel pitch (e.g. a downsampled export)
            image = coarser_pitch(image, float(rng.uniform(1.0, args.downscale)))
        h, w = image.shape
        while True:
            y0, x0 = int(rng.integers(0, h - side)), int(rng.integers(0, w - side))
            region = image[y0 : y0 + side, x0 : x0 + side]
            if region.std() > 0.02:  # not a flat border
                break
        if args.grain > 0 and rng.random() < args.grain_share:  # the truth carries its own detector / quantum noise
            region = with_grain(region, float(rng.uniform(0.0, args.grain / 255)), rng)
        kernel = draw_kernel(rng)
        degraded = blur(region, kernel)[CONTEXT:-CONTEXT, CONTEXT:-CONTEXT]
        sharp = region[CONTEXT:-CONTEXT, CONTEXT:-CONTEXT]
        dose = doses[rng.choice(len(doses), p=weights)]
        if dose:
            degraded = poisson_gaussian_noise(degraded, dose, 0.0, seed=rng)
        bits = int(rng.choice(args.bits))
        degraded = (quantize(degraded, bits) if bits else np.clip(degraded, 0, 1)).astype(np.float32)
        z = blind(degraded)
        if args.under_restore and rng.random() < args.under_restore:  # a network that did less than it should
            z = (z + rng.uniform(0.0, 1.0) * (degraded - z)).astype(np.float32)
        noise, balance, stack = candidates(degraded, kernel, z, args.wiener_gains, args.gains, noise_floor=args.noise_floor)
        balance_all.append(balance)
        sharp_all.append(sharp.astype(np.float32))
        residual_all.append(degraded - blur(z, kernel).astype(np.float32))
        degraded_all.append(degraded)  # kept so that a later trial can derive new inputs from the observation
        kernel_all.append(pad_kernel(kernel))
        cand_all.append(stack)
        noise_all.append(noise)
        if (i + 1) % 50 == 0:
            print(f"worker {args.worker}: {i + 1}/{args.samples} samples, {time.time() - started:.0f} s", flush=True)
    np.savez(
        args.cache / f"part-{args.worker}.npz",
        sharp=np.stack(sharp_all).astype(np.float16),
        residual=np.stack(residual_all).astype(np.float32),
        candidates=np.stack(cand_all),
        noise=np.array(noise_all, np.float32),
        balance=np.array(balance_all, np.float32),
        degraded=np.stack(degraded_all).astype(np.float32),
        kernel=np.stack(kernel_all).astype(np.float32),
    )


#: the network's shape per run: v1 / v2 (``learned_step.json``) as first written; v3 wider,
#: deeper, conditioned on the MMSE balance too, with a larger residual bound
NETS = {
    "v2": {"width": 24, "dilations": [1, 2, 4, 2, 1], "balance": False, "residual_bound": 0.02},
    "v3": {"width": 32, "dilations": [1, 2, 4, 8, 4, 2, 1], "balance": True, "residual_bound": 0.05},
    "v4": {"width": 24, "dilations": [1, 2, 4, 2, 1], "balance": False, "residual_bound": 0.02, "image_context": True},
    "v9": {"width": 24, "dilations": [1, 2, 4, 2, 1], "balance": False, "residual_bound": 0.02, "image_context": True, "local_snr": [[1.0, 10.0]]},
    "v11": {"width": 24, "dilations": [1, 2, 4, 2, 1], "balance": False, "residual_bound": 0.02, "image_context": True,
            "local_snr": [[1.0, 10.0], [0.46, 1.0], [10.0, 46.0]]},
}

def run_snr_pairs(meta: dict) -> dict:
    """The run's ``local_snr`` settings for :mod:`xraydeblur.infer.learned_step`
    (``{"pairs": ...}`` of its network in :data:`NETS`; {} for a network without them)."""
    pairs = NETS[meta["net"]].get("local_snr")
    return {"pairs": pairs} if pairs else {}


def local_snr(kernel: np.ndarray, stack: np.ndarray, noise: float, balance: float, meta: dict) -> np.ndarray:
    """v9 / v11's extra input, (P, H, W): :func:`xraydeblur.infer.learned_step.local_snr`
    of a crop's candidates (``meta``: the run's gains, Wiener gains and noise floor; the
    pairs of its network)."""
    from xraydeblur.infer.learned_step import local_snr as package_local_snr

    return package_local_snr(kernel, stack, noise, balance, {**meta, "local_snr": run_snr_pairs(meta)})


def build_net():
    """The trial's network class: :class:`xraydeblur.models.blend_step.BlendStep` (the
    shipped step's network), with v3's MMSE-balance condition as an extra input channel
    (``log10(balance) / 3 + 1``) and v1-v3 without the image context."""
    from xraydeblur.models.blend_step import BlendStep

    class BlendNet(BlendStep):
        def __init__(self, candidates: int, width: int = 24, dilations=(1, 2, 4, 2, 1), balance: bool = False, residual_bound: float = 0.02, image_context: bool = False, local_snr=None):
            super().__init__(candidates, width, dilations, residual_bound, image_context, extra_channels=int(balance) + len(local_snr or []))
            self.use_balance, self.use_snr = balance, local_snr

        def forward(self, stack, residual, log_noise, log_balance=None, snr=None):
            import torch

            extras = []
            if self.use_balance:
                extras.append((log_balance / 3.0 + 1.0).expand(-1, -1, *stack.shape[2:]))
            if self.use_snr:
                extras.append(snr)
            return super().forward(stack, residual, log_noise, torch.cat(extras, 1) if extras else None)

    return BlendNet


def net_inputs(degraded: np.ndarray, kernel: np.ndarray, stack: np.ndarray, noise: float, balance: float, meta: dict | None = None):
    """Torch tensors (1, ...) of one image for :class:`BlendNet` (with ``meta`` of a v9
    or v11 run, its :func:`local_snr` maps too)."""
    import torch

    from xraydeblur.degrade import blur

    residual = degraded - blur(stack[0], kernel).astype(np.float32)
    inputs = (
        torch.from_numpy(stack[None]),
        torch.from_numpy(residual[None, None].astype(np.float32)),
        torch.full((1, 1, 1, 1), math.log10(max(noise, 1e-6)) + 3.0),
        torch.full((1, 1, 1, 1), math.log10(max(balance, 1e-12))),
    )
    if meta and NETS[meta["net"]].get("local_snr"):
        inputs += (torch.from_numpy(local_snr(kernel, stack, noise, balance, meta)[None]),)
    return inputs


def read_meta(cache: Path) -> dict:
    """The run's settings (``meta.json``), with the v1 / v2 defaults for older caches."""
    meta = json.loads((cache / "meta.json").read_text()) if (cache / "meta.json").exists() else {}
    return {"gains": list(GAINS), "wiener_gains": [1.0], "kernels": "v2", "net": "v2"} | meta


def make_net(meta: dict):
    """A fresh :class:`BlendNet` for the run described by ``meta``."""
    return build_net()(1 + len(meta["gains"]) + len(meta["wiener_gains"]), **NETS[meta["net"]])


def load_cache(cache: Path):
    parts = [np.load(p) for p in sorted(cache.glob("part-*.npz"))]
    keys = ("sharp", "residual", "candidates", "noise") + tuple(k for k in ("balance", "kernel") if k in parts[0])
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def train(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    data = load_cache(args.cache)
    n = len(data["noise"])
    print(f"{n} samples", flush=True)
    sharp = torch.from_numpy(data["sharp"].astype(np.float32))[:, None]
    stack = torch.from_numpy(data["candidates"])
    residual = torch.from_numpy(data["residual"])[:, None]
    log_noise = torch.from_numpy(np.log10(np.maximum(data["noise"], 1e-6)) + 3.0).float()[:, None, None, None]
    log_balance = torch.from_numpy(np.log10(np.maximum(data.get("balance", np.ones(n)), 1e-12))).float()[:, None, None, None]
    meta = read_meta(args.cache)
    net = make_net(meta)
    snr = None
    if NETS[meta["net"]].get("local_snr"):  # v9 / v11: every crop's local signal-to-noise maps, once
        maps = [local_snr(data["kernel"][i], data["candidates"][i], float(data["noise"][i]), float(data["balance"][i]), meta) for i in range(n)]
        snr = torch.from_numpy(np.stack(maps))
    print(f"{sum(p.numel() for p in net.parameters())} parameters, {stack.shape[1]} candidates", flush=True)
    state_path = args.cache / "blend.pt"
    if state_path.exists() and not args.fresh:
        net.load_state_dict(torch.load(state_path))
        print("resumed", flush=True)
    elif args.init:  # e.g. a v2 run's weights into v4 (its image-context branch starts at zero)
        state = torch.load(args.init)
        first = net.body[0].weight
        if state["body.0.weight"].shape[1] < first.shape[1]:  # new input channels (maps) start at zero
            extra = first.shape[1] - state["body.0.weight"].shape[1]
            state["body.0.weight"] = torch.cat([state["body.0.weight"], torch.zeros(first.shape[0], extra, *first.shape[2:])], 1)
        missing = net.load_state_dict(state, strict=False).missing_keys
        print(f"started from {args.init}; new: {missing}", flush=True)
    optimiser = torch.optim.Adam(net.parameters(), lr=args.lr)
    rng = np.random.default_rng(0)
    deadline = time.time() + 60 * args.minutes
    step, running = 0, []
    patch = args.patch
    start = time.time()
    while time.time() < deadline:
        for group in optimiser.param_groups:  # cosine decay over the run's minutes
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * (time.time() - start) / (deadline - start)))
        idx = rng.choice(n, args.batch, replace=False)
        y0, x0 = (int(v) for v in rng.integers(0, CROP - patch + 1, 2))
        win = (slice(None), slice(None), slice(y0, y0 + patch), slice(x0, x0 + patch))
        batch, target = stack[idx][win], sharp[idx][win]
        out = net(batch, residual[idx][win], log_noise[idx], log_balance[idx], None if snr is None else snr[idx][win])
        mse = ((out - target) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        base = ((batch[:, :1] - target) ** 2).mean(dim=(1, 2, 3)).clamp_min(1e-10)
        loss = torch.log10(mse).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        running.append(float(10 * (torch.log10(base) - torch.log10(mse)).mean().detach()))
        step += 1
        if step % 100 == 0:
            print(f"step {step}: gain over z {np.mean(running):+.3f} dB", flush=True)
            running = []
            torch.save(net.state_dict(), state_path)
    torch.save(net.state_dict(), state_path)


def evaluate(args) -> None:
    import torch

    from _trial import crops_at_bits
    from xraydeblur.infer.data_step import data_step
    from xraydeblur.methods import get_method
    from xraydeblur.metrics import psnr

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from kernel_aware_oracle import oracle_wiener

    torch.set_num_threads(args.threads)
    meta = read_meta(args.cache)
    scheme = meta.get("scheme", "patient")
    if scheme != "patient":  # that split's validation images, its networks and its step
        from xraydeblur.models.registry import register_weights_dir

        register_weights_dir(meta["weights_dir"])
    blind = get_method("nafnet-blind")
    net = make_net(meta)
    net.load_state_dict(torch.load(args.cache / "blend.pt"))
    net.eval()
    samples = []
    for suffix, case, sharp, degraded, kernel in crops_at_bits(args.images, args.crop, args.bits, scheme, meta.get("held_out", "mhh"), args.downscale, args.grain / 255):
        if args.dose:  # weak noise instead of none, on the float noise-free rows (the tables' hazard)
            from xraydeblur.degrade.noise import poisson_gaussian_noise

            if case.degradation.dose or suffix:
                continue
            degraded = poisson_gaussian_noise(degraded, args.dose, 0.0, seed=len(samples)).astype(np.float32)
            suffix = f"+dose{args.dose:g}"
        z = blind(degraded)
        started = time.perf_counter()
        noise, balance, stack = candidates(degraded, kernel, z, meta["wiener_gains"], meta["gains"], args.boundary, meta.get("noise_floor", 0.0))
        candidate_seconds = time.perf_counter() - started
        with torch.no_grad():
            learned = net(*net_inputs(degraded, kernel, stack, noise, balance, meta))[0, 0].numpy()
        row = {
            "family": case.family + suffix,
            "image": case.row.file,
            "noise": noise,
            "candidate_seconds": round(candidate_seconds, 3),
            "psnr": {
                "blind": psnr(sharp, z),
                "shipped": psnr(sharp, data_step(degraded, z, kernel, learned=False)),
                "best candidate": max(psnr(sharp, c) for c in stack),
                "learned": psnr(sharp, learned),
                "wiener oracle": oracle_wiener(sharp, degraded, kernel)[0],
            },
        }
        samples.append(row)
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row["psnr"].items()} | {"row": row["family"]}), flush=True)
    report(samples, args.out)


def report(samples: list[dict], out: str | None) -> None:
    from _trial import print_markdown, row_means, write_trial

    columns = ("blind", "shipped", "best candidate", "learned", "wiener oracle")
    table = row_means(samples, columns)
    print_markdown(table, columns, {"learned - shipped": lambda r: f"{r['learned'] - r['shipped']:+.2f}", "learned - oracle": lambda r: f"{r['learned'] - r['wiener oracle']:+.2f}"})
    write_trial(out, "benchmarks/trials/learned_step.py", table, samples)


def merge(args) -> None:
    """One table from several ``evaluate`` JSONs (runs split by bit depth)."""
    import re

    samples = [s for path in args.parts for s in json.loads(Path(path).read_text())["samples"]]
    for s in samples:  # runs before the family fix named rows by the image's motion angle
        s["family"] = re.sub(r"-angle[0-9.]+", "", s["family"])
    report(samples, args.out)


def summarize(args) -> None:
    """Per ``evaluate`` / ``merge`` JSON: rows where the learned blend is at or above Wiener
    with its best balance per image (the oracle), the mean and worst row of ``learned -
    oracle`` (dB), and, against the first JSON (same rows), the range and mean of the
    learned blend's per-row change. Prints a Markdown table."""
    tables = [json.loads(Path(p).read_text())["table"] for p in args.parts]
    print("| run | rows at or above the oracle | mean (dB) | worst row (dB) | change from the first: min / max / mean (dB) |")
    print("|---|---|---|---|---|")
    for path, table in zip(args.parts, tables):
        gaps = [r["learned"] - r["wiener oracle"] for r in table.values()]
        change = [table[k]["learned"] - tables[0][k]["learned"] for k in tables[0]]
        print(f"| {Path(path).stem} | {sum(g >= 0 for g in gaps)} / {len(gaps)} | {np.mean(gaps):+.3f} | {min(gaps):+.2f} | "
              f"{min(change):+.2f} / {max(change):+.2f} / {np.mean(change):+.3f} |")


def export(args) -> None:
    """Write a v4 run's weights as the package's learned step
    (``src/xraydeblur/weights/step/learned-step.safetensors`` + ``.json``: gains, solves'
    iterations, network shape, training command and data, validation scores)."""
    import hashlib
    import subprocess

    import torch
    from safetensors.torch import save_file

    from xraydeblur import __version__
    from xraydeblur.data.manifest import manifest_sha256
    from xraydeblur.infer.learned_step import SNR_DEFAULTS

    meta = read_meta(args.cache)
    shape = {k: v for k, v in NETS[meta["net"]].items() if k not in ("balance", "local_snr")}
    if NETS[meta["net"]].get("balance") or not shape.get("image_context"):
        raise SystemExit("export takes a run without the balance input and with the image context (v4, v9, v11)")
    state = {k: v.contiguous() for k, v in torch.load(args.cache / "blend.pt").items()}
    stem = Path(args.out)
    # the solves' settings on noisy input are the package's, not the run's: kept from the step it replaces
    previous = json.loads(stem.with_suffix(".json").read_text()) if stem.with_suffix(".json").exists() else {}
    save_file(state, str(stem.with_suffix(".safetensors")))
    scores = json.loads(Path(args.scores).read_text())
    settings = {
        "name": "learned-step",
        "description": "the kernel-aware data step: a per-pixel blend of table-free candidates (xraydeblur.infer.learned_step)",
        "gains": meta["gains"],
        "wiener_gains": meta["wiener_gains"],
        **({"noise_floor": meta["noise_floor"]} if meta.get("noise_floor") else {}),
        **({"local_snr": {**SNR_DEFAULTS, **run_snr_pairs(meta)}} if NETS[meta["net"]].get("local_snr") else {}),
        "strong_below": 0.1,
        "cg_iterations_strong": 200,
        "cg_iterations": 50,
        "cg_iterations_wiener": 100,
        **{k: previous[k] for k in ("noisy_cg_iterations", "solves") if k in previous},
        "network": shape,
        "parameters": int(sum(v.numel() for v in state.values())),
        "trained_with": args.trained_with,
        "training_data": {
            "scheme": meta.get("scheme", "patient"),
            **({"held_out": meta["held_out"]} if meta.get("scheme") == "source" else {}),
            "split": "train",
            "kernels": meta["kernels"],
            **({"under_restore": meta["under_restore"]} if meta.get("under_restore") else {}),
            **({"grain": meta["grain"]} if meta.get("grain") else {}),
            "crop_px": CROP,
            "doses": DOSES,
            **({"noise_free_share": meta["noise_free_share"]} if meta.get("noise_free_share") is not None else {}),
            "bits": BITS,
        },
        "validation": {"command": scores.get("commands"), "split": scores.get("split"), "table": scores["table"]},
        "package_version": __version__,
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip(),
        "data_manifest_sha256": manifest_sha256(),
        "weights_sha256": hashlib.sha256(stem.with_suffix(".safetensors").read_bytes()).hexdigest(),
    }
    stem.with_suffix(".json").write_text(json.dumps(settings, indent=1) + "\n")
    print(f"wrote {stem}.safetensors / .json ({settings['parameters']} parameters)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make-data")
    m.add_argument("--samples", type=int, default=1200)
    m.add_argument("--worker", type=int, default=0)
    m.add_argument("--cache", type=Path, required=True)
    m.add_argument("--wiener-gains", type=float, nargs="+", default=list(WIENER_GAINS))
    m.add_argument("--gains", type=float, nargs="+", default=list(GAINS), help="of the corrections of z")
    m.add_argument("--kernels", choices=("v2", "sampler"), default="v2", help="v2: the first runs' four families; sampler: the training distribution's")
    m.add_argument("--net", choices=tuple(NETS), default="v2", help="the network trained on this cache (kept in meta.json)")
    m.add_argument("--noise-floor", type=float, default=0.0, help="the candidates' balance at hypot(measured noise, this) (step_noise_floor.py; 0: as measured)")
    m.add_argument("--scheme", choices=("patient", "source"), default="patient", help="split scheme of the training crops")
    m.add_argument("--under-restore", type=float, default=0.0,
                   help="this share of the samples takes z + t (y - z), t uniform in [0, 1], for z: the output of a network that under-restores "
                        "(as the blind network does on a source it never saw)")
    m.add_argument("--downscale", type=float, default=1.0,
                   help="this share (--downscale-share) of the crops is cut from the radiograph resampled to a pixel pitch up to this factor "
                        "coarser (uniform in [1, factor]): more detail per pixel, as in reduced-size exports")
    m.add_argument("--downscale-share", type=float, default=1.0)
    m.add_argument("--grain", type=float, default=0.0,
                   help="this share (--grain-share) of the sharp crops carries white noise of standard deviation uniform in [0, grain] (in 1/255): "
                        "a truth with its own detector / quantum noise, as bedside radiographs have")
    m.add_argument("--grain-share", type=float, default=1.0)
    m.add_argument("--noise-free-share", type=float, default=None,
                   help="this share of the crops without Poisson noise (default: DOSES' 0.5); the noisy doses keep their ratios")
    m.add_argument("--bits", type=int, nargs="+", choices=BITS, default=list(BITS), help="the input's bit depths drawn from (0: float), uniformly")
    m.add_argument("--held-out", default="mhh", help="with --scheme source: the source never seen")
    m.add_argument("--weights-dir", default="benchmarks/weights/unseen-mhh", help="with --scheme source: its blind network")
    t = sub.add_parser("train")
    t.add_argument("--cache", type=Path, required=True)
    t.add_argument("--minutes", type=float, default=40)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--patch", type=int, default=64)
    t.add_argument("--lr", type=float, default=2e-3)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--fresh", action="store_true")
    t.add_argument("--init", type=Path, help="start from these weights (missing layers as built)")
    e = sub.add_parser("evaluate")
    e.add_argument("--cache", type=Path, required=True)
    e.add_argument("--images", type=int, default=4)
    e.add_argument("--crop", type=int, default=256)
    e.add_argument("--bits", type=int, nargs="+", default=[0, 8, 12])
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--dose", type=float, default=0.0, help="instead of the benchmark's noise: Poisson noise at this dose on its noise-free rows")
    e.add_argument("--boundary", choices=("masked", "mirror"), default="masked", help="how the candidates are solved (trained on masked)")
    e.add_argument("--downscale", type=float, default=1.0, help="the validation radiographs at this factor coarser pixel pitch (coarser_pitch) before the crop")
    e.add_argument("--grain", type=float, default=0.0, help="white noise of this standard deviation (in 1/255) added to the validation radiographs before the crop (part of the truth)")
    e.add_argument("--out")
    x = sub.add_parser("export")
    x.add_argument("--cache", type=Path, required=True)
    x.add_argument("--scores", required=True, help="the merged validation JSON of this run")
    x.add_argument("--trained-with", required=True, help="the training commands, as run")
    x.add_argument("--out", default=str(ROOT / "src/xraydeblur/weights/step/learned-step"))
    g = sub.add_parser("merge")
    g.add_argument("parts", nargs="+")
    g.add_argument("--out")
    s = sub.add_parser("summarize")
    s.add_argument("parts", nargs="+", help="evaluate / merge JSONs with the same rows, the baseline first")
    args = p.parse_args()
    {"make-data": make_data, "train": train, "evaluate": evaluate, "merge": merge, "summarize": summarize, "export": export}[args.command](args)


if __name__ == "__main__":
    main()
