"""The learned data step: the kernel-aware correction of the network's output, chosen by
a small network from table-free candidates instead of by a table of tuned gains.

Given the blurred image ``y`` (H, W), the blind network's output ``z`` and the PSF ``k``,
:func:`step_candidates` measures the noise where the kernel leaves no signal
(:func:`xraydeblur.classical.kernel_noise_sigma`, rounding noise included), computes the
MMSE balance ``b`` at that noise (:func:`xraydeblur.classical.estimate_balance`; at
``hypot(noise, noise_floor)`` when the step's settings name a ``noise_floor``) and
solves, with masked borders:

* ``z`` corrected towards the data (:func:`xraydeblur.classical.wiener_correction`) at
  ``g * b`` for each correction gain ``g`` (0.01 to 10);
* plain Wiener (:func:`xraydeblur.classical.wiener`) at ``g * b`` for each Wiener gain
  (0.46 to 46 in the shipped step);

on noisy input each set solved as one regularisation path
(:func:`xraydeblur.classical.wiener_path`: every solve started from the previous,
better-conditioned one's border correction; faster for the same result there), on
noise-free input one independent solve each, as the blend was trained.

:class:`xraydeblur.models.blend_step.BlendStep` then blends them per pixel, with the
residual ``y - k * z`` and the noise level as its other inputs (and, for a step whose
settings name ``local_snr``, :func:`local_snr`: where the weaker-regularised Wiener
candidate restores signal rather than amplified noise). Nothing in it depends on
the blur family or the bit depth: a new one needs no table. The gains, the solves'
iterations and the network's shape are in the shipped ``weights/step/learned-step.json`` beside its
weights (with the training command and the validation scores); it was trained by
``benchmarks/trials/learned_step.py`` on crops of training radiographs.

>>> import numpy as np                                               # doctest: +SKIP
>>> from xraydeblur.degrade import blur, gaussian_kernel             # doctest: +SKIP
>>> k = gaussian_kernel(1.5); y = blur(sharp, k)                     # doctest: +SKIP
>>> x = learned_step(y, blind_output, k)                             # doctest: +SKIP
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

#: images of more pixels run the blend network in windows (same result, the memory of
#: one 512 px window instead of 24 feature maps of the whole image)
TILED_ABOVE_PIXELS = 1024 * 1024
#: the local signal-to-noise maps (:func:`local_snr`) of a step whose settings name
#: ``local_snr`` without its own values: the pairs of plain Wiener candidates compared
#: (their gains times the balance), one map each, and the Gaussian window (px) of the
#: local energy
SNR_DEFAULTS = {"pairs": [[1.0, 10.0]], "window_px": 4.0}
#: the shipped network and its settings: ``learned-step.safetensors`` + ``.json``
STEP_STEM = Path(__file__).resolve().parent.parent / "weights" / "step" / "learned-step"


def step_settings(stem: Path | None = None) -> dict:
    """``stem.json`` (default the shipped ``learned-step.json``): gains, iterations,
    network shape, provenance (``training_data``: split scheme and held-out source)."""
    return _settings(Path(stem or STEP_STEM).resolve())


@lru_cache(maxsize=4)
def _settings(stem: Path) -> dict:
    return json.loads(stem.with_suffix(".json").read_text())


def _network(stem: Path | None = None):
    """(the step's network in eval mode, torch) for ``stem`` (default the shipped one)."""
    return _load_network(Path(stem or STEP_STEM).resolve())


def _windowed_network(stem: Path | None = None):
    """The step's network for images blended in windows (over
    :data:`TILED_ABOVE_PIXELS`): the same weights in channels-last layout, in which
    oneDNN runs its dilated convolutions about 2.8 x faster on a 2048 x 2048 image (1.26
    against 3.49 s on 2 threads), outputs within 2e-5 of the default layout
    (``tests/test_learned_step.py``). Small images (the benchmark's crops) keep the
    default layout."""
    return _load_windowed_network(Path(stem or STEP_STEM).resolve())


@lru_cache(maxsize=4)
def _load_windowed_network(stem: Path):
    import copy

    net, torch = _load_network(stem)
    return copy.deepcopy(net).to(memory_format=torch.channels_last)


@lru_cache(maxsize=4)
def _load_network(stem: Path):
    import torch
    from safetensors.torch import load_file

    from ..models.blend_step import BlendStep

    settings = _settings(stem)
    net = BlendStep(1 + len(settings["gains"]) + len(settings["wiener_gains"]), extra_channels=snr_channels(settings), **settings["network"])
    net.load_state_dict(load_file(str(stem.with_suffix(".safetensors"))))
    net.eval()
    return net, torch


def candidate_balance(blurred: np.ndarray, kernel: np.ndarray, noise: float, settings: dict) -> float:
    """The MMSE Wiener balance the candidates' gains multiply, for ``blurred`` (H, W, in
    [0, 1]) under ``kernel`` (K, K) at the noise ``noise`` ([0, 1] units), or at
    ``settings["noise_floor"]`` if larger (in quadrature: a step trained with a floor)."""
    from ..classical import estimate_balance

    return float(estimate_balance(blurred, kernel, "gradient", noise_sigma=float(np.hypot(noise, settings.get("noise_floor", 0.0)))))


def step_candidates(
    blurred: np.ndarray,
    estimate: np.ndarray,
    kernel: np.ndarray,
    observed: np.ndarray | None = None,
    noise_sigma: float | None = None,
    stem: Path | None = None,
    settings: dict | None = None,
    path: bool = False,
    balance: float | None = None,
    threads: int | None = None,
) -> tuple[float, np.ndarray]:
    """(measured noise, float32 (C, H, W) stack): ``estimate`` (H, W, in [0, 1]) first,
    then its corrections at the shipped gains, then plain Wiener at the Wiener gains, all
    in [0, 1], for ``blurred`` (H, W, in [0, 1]) under ``kernel`` (K, K). ``observed``
    (H, W) in [0, 1]: the data term's weight per pixel (0 on filled-in overlays);
    ``noise_sigma``: the noise if already measured ([0, 1] units); ``stem``: the step's
    weights (default the shipped ones), whose ``.json`` names the gains; ``settings``:
    those settings themselves instead (gains, Wiener gains, iterations, noise floor: the
    training trial makes candidates for steps not exported yet); ``path``: solve each set
    of candidates as one regularisation path (:func:`xraydeblur.classical.wiener_path`:
    the same problems from a better start, what noisy input gets) instead of one
    independent solve each (what the blend was trained on, and what noise-free input
    gets: there a solve's convergence changes the candidate); ``balance``: the
    :func:`candidate_balance` if already computed; ``threads``: solves run side by side
    (:func:`xraydeblur.classical._common.run_parallel`: the same result, 1.26-1.43 x
    faster on two cores for a 4-megapixel image, ``benchmarks/trials/parallel_solves.py``;
    default :func:`xraydeblur.infer.backends.cpu_threads`)."""
    from ..classical import kernel_noise_sigma, wiener, wiener_correction, wiener_path
    from ..classical._common import run_parallel
    from .backends import cpu_threads

    settings = settings if settings is not None else step_settings(stem)
    noise = float(kernel_noise_sigma(blurred, kernel)) if noise_sigma is None else float(noise_sigma)
    balance = candidate_balance(blurred, kernel, noise, settings) if balance is None else float(balance)
    iterations = [settings["cg_iterations_strong"] if g <= settings["strong_below"] else settings["cg_iterations"] for g in settings["gains"]]
    balances, wiener_balances = [balance * g for g in settings["gains"]], [balance * g for g in settings["wiener_gains"]]
    threads = cpu_threads() if threads is None else threads
    wiener_iterations = settings["cg_iterations_wiener"]
    if path:  # two paths, side by side
        corrections, wieners = run_parallel(
            [
                lambda: wiener_path(blurred, kernel, balances, "gradient", iterations, observed, estimate=estimate),
                lambda: wiener_path(blurred, kernel, wiener_balances, "gradient", wiener_iterations, observed),
            ],
            threads,
        )
    else:  # fourteen independent solves, the longest started first
        solved = run_parallel(
            [lambda b=b, n=n: wiener_correction(blurred, estimate, kernel, b, "gradient", cg_iterations=n, weights=observed) for b, n in zip(balances, iterations)]
            + [lambda b=b: np.clip(wiener(blurred, kernel, balance=b, cg_iterations=wiener_iterations, weights=observed), 0, 1) for b in wiener_balances],
            threads,
            costs=iterations + [wiener_iterations] * len(wiener_balances),
        )
        corrections, wieners = solved[: len(balances)], solved[len(balances) :]
    return noise, np.stack([np.clip(np.asarray(estimate, np.float32), 0, 1), *corrections, *wieners]).astype(np.float32)


def snr_settings(settings: dict) -> dict | None:
    """The step's local signal-to-noise settings (:data:`SNR_DEFAULTS` filled in), or
    None for a step without that input."""
    own = settings.get("local_snr")
    if not own:
        return None
    return {**SNR_DEFAULTS, **(own if isinstance(own, dict) else {})}


def snr_channels(settings: dict) -> int:
    """How many :func:`local_snr` maps the step's blend reads (0: none)."""
    snr = snr_settings(settings)
    return 0 if snr is None else len(snr["pairs"])


def local_snr(kernel: np.ndarray, stack: np.ndarray, noise: float, balance: float, settings: dict, observed: np.ndarray | None = None) -> np.ndarray:
    """The blend's local signal-to-noise input, float32 (P, H, W), one map per pair of
    plain Wiener candidates of ``stack`` (:func:`step_candidates`) at gains (a, b) times
    ``balance`` (``settings["local_snr"]["pairs"]``, else :data:`SNR_DEFAULTS`): ``2
    log10`` of the local energy (Gaussian window ``window_px``) of their difference over
    the energy white noise of sd ``hypot(noise, noise_floor)`` ([0, 1] units) alone would
    give it (``mean |W_a - W_b|^2`` over the image's frequencies, ``W_g = conj(H) /
    (|H|^2 + g b |D|^2)``). About 0 where the weaker-regularised candidate only adds
    amplified noise; above 0 where it restores signal. Pairs at different gains probe
    different frequencies, so together they tell a smooth truth from one with its own grain.
    Pixels where ``observed`` (H, W) is 0 (a filled-in overlay) give no evidence of signal:
    their difference counts as 0, so the map there is at its floor."""
    from scipy.ndimage import gaussian_filter

    from ..classical._common import psf2otf, regulariser_power

    snr = snr_settings(settings) or dict(SNR_DEFAULTS)
    sigma = float(np.hypot(noise, settings.get("noise_floor", 0.0)))
    first = 1 + len(settings["gains"])
    wiener_gains = [float(g) for g in settings["wiener_gains"]]
    # the image's own grid (near the kernel's zeros a coarser one errs), at least the kernel's size
    grid = tuple(max(n, k) for n, k in zip(stack.shape[1:], np.shape(kernel)))
    h = psf2otf(np.asarray(kernel, np.float64), grid)
    d2 = regulariser_power("gradient", grid)
    filters: dict = {}  # W_g per gain, each computed once
    maps = []
    for pair in snr["pairs"]:
        a, b = (first + wiener_gains.index(float(g)) for g in pair)
        for g in pair:
            if float(g) not in filters:
                filters[float(g)] = np.conj(h) / (np.abs(h) ** 2 + float(g) * balance * d2)
        wa, wb = filters[float(pair[0])], filters[float(pair[1])]
        predicted = sigma**2 * float(np.mean(np.abs(wa - wb) ** 2))
        difference = np.square(stack[a] - stack[b], dtype=np.float32)
        if observed is not None:
            difference *= np.asarray(observed) > 0
        energy = gaussian_filter(difference, float(snr["window_px"]))
        maps.append(2.0 * np.log10(energy / np.float32(max(predicted, 1e-14)) + np.float32(1e-3)))
    return np.stack(maps).astype(np.float32)


def noisy_iterations(stem: Path | None = None) -> int:
    """The conjugate-gradient iterations each of the step's solves gets on noisy input
    (the settings' ``noisy_cg_iterations``; a step without it: 20, the cap of the
    independent solves before :func:`xraydeblur.classical.wiener_path`). The noise
    makes the balance large, the solves converge early, and the path starts each one
    from its neighbour's border correction."""
    return int(step_settings(stem).get("noisy_cg_iterations", 20))


def capped_iterations(settings: dict, cap: int | None) -> dict:
    """``settings`` with every solve's conjugate-gradient iterations (``cg_iterations*``)
    at most ``cap`` (None: unchanged). Noisy input needs few: its balance is large and
    the solves converge early (:func:`noisy_iterations`)."""
    if cap is None:
        return settings
    return {**settings, **{k: min(int(v), int(cap)) for k, v in settings.items() if k.startswith("cg_iterations")}}


def learned_step(
    blurred: np.ndarray,
    estimate: np.ndarray,
    kernel: np.ndarray,
    observed: np.ndarray | None = None,
    noise_sigma: float | None = None,
    stem: Path | None = None,
    max_iterations: int | None = None,
    path: bool = False,
) -> np.ndarray:
    """The learned data step: ``estimate`` (H, W, the blind network's output in [0, 1])
    made consistent with ``blurred`` (H, W in [0, 1]) under ``kernel`` (K, K) by the
    shipped blend (or ``stem``'s) of :func:`step_candidates`. ``observed``,
    ``noise_sigma``, ``stem``, ``path``: as there; ``max_iterations``: cap on each solve's
    conjugate-gradient iterations (:func:`capped_iterations`; None: the step's own).
    Returns float32 (H, W) in [0, 1]."""
    from ..classical import kernel_noise_sigma

    settings = capped_iterations(step_settings(stem), max_iterations)
    noise = float(kernel_noise_sigma(blurred, kernel)) if noise_sigma is None else float(noise_sigma)
    balance = candidate_balance(blurred, kernel, noise, settings)
    _, stack = step_candidates(blurred, estimate, kernel, observed, noise, stem, settings=settings, path=path, balance=balance)
    return blend_candidates(blurred, kernel, noise, stack, observed, stem, balance)


def blend_candidates(
    blurred: np.ndarray,
    kernel: np.ndarray,
    noise: float,
    stack: np.ndarray,
    observed: np.ndarray | None = None,
    stem: Path | None = None,
    balance: float | None = None,
) -> np.ndarray:
    """The blend network's output for :func:`step_candidates`' ``(noise, stack)`` of
    ``blurred`` (H, W in [0, 1]) under ``kernel`` (K, K): its inputs are the stack, the
    residual ``blurred - kernel * stack[0]`` (0 where ``observed`` is 0), the log noise
    and, for a step whose settings name it, :func:`local_snr` (at ``balance``, the
    :func:`candidate_balance` if already computed). ``stem``: the step's weights
    (default the shipped ones). Pixels where ``observed`` is 0 keep ``stack[0]`` (the
    correction of the estimate, which leaves them at the estimate). Float32 (H, W) in [0, 1]."""
    from ..degrade import blur

    seen = None if observed is None else np.asarray(observed) > 0  # the pixels the data may be fitted on
    residual = (np.asarray(blurred, np.float32) - blur(stack[0], np.asarray(kernel, np.float64)).astype(np.float32))
    if seen is not None:
        residual = residual * seen
    net, torch = _network(stem)
    inputs = (
        torch.from_numpy(stack[None]),
        torch.from_numpy(residual[None, None].astype(np.float32)),
        torch.full((1, 1, 1, 1), float(np.log10(max(noise, 1e-6)) + 3.0)),
    )
    settings = step_settings(stem)
    extra = None
    if snr_channels(settings):
        balance = candidate_balance(blurred, kernel, noise, settings) if balance is None else balance
        extra = torch.from_numpy(local_snr(kernel, stack, noise, balance, settings, seen)[None])
    with torch.no_grad():
        out = net(*inputs, extra) if residual.size <= TILED_ABOVE_PIXELS else _windowed_network(stem).forward_tiled(*inputs, extra=extra)
    out = out[0, 0].numpy().astype(np.float32)
    if seen is not None:  # no observation, nothing for a data step to fit: the estimate's own correction
        out = np.where(seen, out, stack[0]).astype(np.float32)
    return out
