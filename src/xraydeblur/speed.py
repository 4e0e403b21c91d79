"""Seconds and peak memory to deblur one large image with a method, on this CPU.

Each measurement runs in a fresh Python process, so its peak resident memory is the
method's own: load the method, warm up on a 256x256 image, then time ``repeats`` runs
on a ``size`` x ``size`` synthetic image (smooth random structure; the content does
not change the cost of these methods). Blind methods run without a kernel; a
kernel-aware network (``nafnet-kernel``) runs as it is meant to, given a kernel
(:data:`KNOWN_KERNEL_SIGMA`), so its time includes the data step. A method that
identifies the PSF itself (``nafnet-psf``) is timed on a scene with a radiograph-like
power spectrum under :data:`IDENTIFIED_MOTION` (which it identifies and trusts, so its
time includes the search and the data step), with its identification cache cleared
before every run. With ``noisy`` the image is first blurred by :func:`noisy_scene`
(Gaussian sigma 2 px with the benchmark's Poisson-Gaussian noise), as a real
radiograph is: the data step then takes its noisy-input path, whose solves stop
earlier than on noise-free input (the worst case the plain scene times); a method that
identifies the PSF gets its motion scene with that noise instead, so that it
identifies and trusts the PSF there too (what a noisy radiograph with motion blur
costs). Used
by ``xraydeblur evaluate --speed-size`` and ``benchmarks/speed.py``.

>>> measure_speed("wiener", size=512)                 # doctest: +SKIP
{'method': 'wiener', 'seconds': 0.41, 'seconds_per_mp': 1.6, 'peak_rss_mb': 180.2, ...}
"""

import json
import os
import subprocess
import sys
import time

#: the known blur given to kernel-aware networks when timing them: Gaussian sigma (px)
KNOWN_KERNEL_SIGMA = 2.0
#: the blur of the image a PSF-identifying method is timed on (straight motion, px and degrees)
IDENTIFIED_MOTION = {"length": 9.0, "angle": 30.0}


def noisy_scene() -> dict:
    """The degradation of the ``noisy`` scene: Gaussian blur sigma (px, as
    :data:`KNOWN_KERNEL_SIGMA`) and the benchmark's noise (``dose``: photons at full
    scale, ``read_noise`` in [0, 1] units; :mod:`xraydeblur.data.benchmark`)."""
    from .data.benchmark import BENCHMARK_DOSE, BENCHMARK_READ_NOISE

    return {"sigma": KNOWN_KERNEL_SIGMA, "dose": BENCHMARK_DOSE, "read_noise": BENCHMARK_READ_NOISE}


def _noisy(image):
    """``image`` under :func:`noisy_scene` (float32, same shape)."""
    import numpy as np

    from .degrade import Degradation

    scene = noisy_scene()
    degradation = Degradation("gaussian", {"sigma": scene.pop("sigma")}, **scene)
    return degradation.apply(image, seed=0)[0].astype(np.float32)


def _child(name: str, size: int, repeats: int, weights_dir: str | None, noisy: bool = False) -> dict:
    import resource

    import numpy as np
    from scipy.ndimage import gaussian_filter

    from .methods import get_method

    if weights_dir:
        from .models.registry import register_weights_dir

        register_weights_dir(weights_dir)
    rng = np.random.default_rng(0)
    image = np.clip(gaussian_filter(rng.random((size, size)), 3) * 4 - 1.5, 0, 1).astype(np.float32)
    t0 = time.perf_counter()
    method = get_method(name)
    kernel = None
    if method.kind == "network" and method.extra.get("kernel_aware"):
        from .degrade import gaussian_kernel

        kernel = gaussian_kernel(KNOWN_KERNEL_SIGMA)
    method(image[:256, :256], kernel)
    load = time.perf_counter() - t0
    identified = None
    if getattr(method, "identifies_psf", False):
        from .data.synthetic import power_law_scene
        from .degrade import Degradation
        from .infer.identify import clear_cache

        noise = {k: v for k, v in noisy_scene().items() if k != "sigma"} if noisy else {}
        image = Degradation("motion", dict(IDENTIFIED_MOTION), **noise).apply(power_law_scene(size), seed=0)[0].astype(np.float32)
        identified = method.kernel_in_use(image)[1]
    elif noisy:
        image = _noisy(image)
    times = []
    for _ in range(repeats):
        if identified is not None:
            clear_cache()
        t = time.perf_counter()
        method(image, kernel)
        times.append(time.perf_counter() - t)
    return {
        "method": name,
        "size": size,
        "seconds": min(times),
        "seconds_all": times,
        "seconds_per_mp": min(times) / (size * size / 1e6),
        "load_seconds": load,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "backend": getattr(getattr(method.run, "backend", None), "name", "numpy"),
        "scene": ("noisy (dose {dose:g}, read noise {read_noise:g})" if identified is not None else "noisy (Gaussian sigma {sigma:g} px, dose {dose:g}, read noise {read_noise:g})").format(**noisy_scene())
        if noisy
        else "noise-free",
        "kernel": f"gaussian sigma {KNOWN_KERNEL_SIGMA:g} (given)"
        if kernel is not None
        else f"identified: {identified.get('label')} ({'trusted' if identified.get('trusted') else 'not trusted'})"
        if identified
        else "none (blind)",
    }


def measure_speed(
    name: str, size: int = 2048, repeats: int = 2, threads: int | None = None, weights_dir: str | None = None, noisy: bool = False
) -> dict:
    """Time method ``name`` on a ``size``² image in a fresh process using ``threads`` CPU
    threads (default: all); ``noisy``: on the :func:`noisy_scene` version of the image.
    Returns seconds (best of ``repeats``), seconds_per_mp, peak_rss_mb, backend, scene;
    or ``{"method": name, "error": reason}``."""
    threads = threads or os.cpu_count() or 1
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "XRAYDEBLUR_THREADS": str(threads)}
    args = [sys.executable, "-m", "xraydeblur.speed", name, str(size), str(repeats), weights_dir or "", "noisy" if noisy else "noise-free"]
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode:
        lines = proc.stderr.strip().splitlines()
        return {"method": name, "error": lines[-1] if lines else "failed"}
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "threads": threads}


def speed_table(rows: list[dict]) -> str:
    """Markdown: method, backend, seconds, seconds per megapixel, peak memory (MB)."""
    lines = ["| method | backend | seconds | s/MP | peak MB |", "|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | failed: {r['error']} | | | |")
        else:
            notes = (["kernel given"] if str(r.get("kernel", "")).endswith("(given)") else []) + (["noisy"] if str(r.get("scene", "")).startswith("noisy") else [])
            name = r["method"] + (f" [{', '.join(notes)}]" if notes else "")
            lines.append(f"| {name} | {r['backend']} | {r['seconds']:.2f} | {r['seconds_per_mp']:.2f} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    name, size, repeats, weights_dir, scene = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    print(json.dumps(_child(name, size, repeats, weights_dir or None, noisy=scene == "noisy")))
