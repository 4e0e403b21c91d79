"""The PSF estimator's labels, without PyTorch: blur families, the regressed
parameters, and the conversions between a degradation and the network's output.

The network (:mod:`xraydeblur.models.psf_net`) outputs ``len(FAMILIES)`` logits, then
the ``len(PARAMS)`` regressions: logs of widths in px, and ``cos 2a`` / ``sin 2a`` of an
orientation ``a`` (a blur and its spectrum look the same turned by 180 degrees).

>>> index, targets = encode_target("motion", {"length": 9.0, "angle": 30.0})
>>> FAMILIES[index], decode([0, 0, 0, 0, 9, 0, 0] + targets)["params"]["angle"].__round__(3)
('motion', 30.0)
"""

from __future__ import annotations

import math

#: parameter ranges (px) the estimator was trained on (:mod:`xraydeblur.train.psf_data`
#: draws them uniformly); an estimate outside them is an extrapolation
TRAINED_RANGES = {"sigma": (0.5, 4.0), "sigma_y": (0.5, 4.0), "radius": (1.0, 4.0), "length": (3.0, 21.0), "scale": (0.5, 2.5)}


def within_trained_ranges(params: dict, slack: float = 0.05) -> bool:
    """Whether every width in ``params`` (px) lies within :data:`TRAINED_RANGES`, give
    or take ``slack`` of the range's ends (a curved path's length is not checked)."""
    for name, value in params.items():
        if name in TRAINED_RANGES:
            low, high = TRAINED_RANGES[name]
            if not low * (1 - slack) <= value <= high * (1 + slack):
                return False
    return True


#: blur families, in logit order. "trajectory" (curved motion) has no parametric
#: kernel here: it is named, never used as a PSF
FAMILIES = ("none", "gaussian", "anisotropic", "disk", "motion", "trajectory", "exponential")
#: regression outputs, in order, and the family they belong to
PARAMS = (
    ("gaussian", "log_sigma"),
    ("anisotropic", "log_sigma"),
    ("anisotropic", "log_sigma_y"),
    ("anisotropic", "cos2a"),
    ("anisotropic", "sin2a"),
    ("disk", "log_radius"),
    ("motion", "log_length"),
    ("motion", "cos2a"),
    ("motion", "sin2a"),
    ("trajectory", "log_length"),
    ("exponential", "log_scale"),
)

def angle_difference(a: float, b: float) -> float:
    """Smallest difference (degrees, 0-90) between two orientations given modulo 180."""
    d = abs(a - b) % 180.0
    return min(d, 180.0 - d)


def _angle(cos2a: float, sin2a: float) -> float:
    return math.degrees(math.atan2(sin2a, cos2a) / 2.0) % 180.0


def decode(row, temperature: float = 1.0) -> dict:
    """One output row (sequence of floats) -> ``{"family", "params", "probabilities"}``.

    ``params`` in pixels / degrees as :func:`xraydeblur.degrade.make_kernel` takes them
    (an anisotropic Gaussian: ``sigma`` along ``angle``, ``sigma`` >= ``sigma_y``);
    ``probabilities``: softmax of the logits divided by ``temperature``, per family."""
    values = [float(v) for v in row]
    logits = values[: len(FAMILIES)]
    top = max(logits)
    weights = [math.exp((v - top) / temperature) for v in logits]
    total = sum(weights)
    probabilities = {f: w / total for f, w in zip(FAMILIES, weights)}
    family = max(probabilities, key=probabilities.get)
    p = {f"{fam}.{name}": v for (fam, name), v in zip(PARAMS, values[len(FAMILIES) :])}
    if family == "gaussian":
        params = {"sigma": math.exp(p["gaussian.log_sigma"])}
    elif family == "anisotropic":
        a, b = math.exp(p["anisotropic.log_sigma"]), math.exp(p["anisotropic.log_sigma_y"])
        angle = _angle(p["anisotropic.cos2a"], p["anisotropic.sin2a"])
        params = {"sigma": max(a, b), "sigma_y": min(a, b), "angle": angle if a >= b else (angle + 90.0) % 180.0}
    elif family == "disk":
        params = {"radius": math.exp(p["disk.log_radius"])}
    elif family == "motion":
        params = {"length": math.exp(p["motion.log_length"]), "angle": _angle(p["motion.cos2a"], p["motion.sin2a"])}
    elif family == "trajectory":
        params = {"length": math.exp(p["trajectory.log_length"])}
    elif family == "exponential":
        params = {"scale": math.exp(p["exponential.log_scale"])}
    else:
        params = {}
    return {"family": family, "params": params, "probabilities": probabilities}


def encode_target(kind: str, params: dict) -> tuple[int, list[float]]:
    """(family index, regression targets (len(PARAMS),)) for a degradation of family
    ``kind`` ("none" for no blur) with ``params`` as :func:`make_kernel` takes them.
    An anisotropic Gaussian is put in canonical form (``sigma`` the larger width)."""
    targets = [0.0] * len(PARAMS)

    def put(name: str, value: float) -> None:
        targets[PARAMS.index((kind, name))] = float(value)

    if kind == "gaussian":
        put("log_sigma", math.log(params["sigma"]))
    elif kind == "anisotropic":
        a, b, angle = params["sigma"], params["sigma_y"], params.get("angle", 0.0)
        if b > a:
            a, b, angle = b, a, angle + 90.0
        put("log_sigma", math.log(a))
        put("log_sigma_y", math.log(b))
        put("cos2a", math.cos(math.radians(2 * angle)))
        put("sin2a", math.sin(math.radians(2 * angle)))
    elif kind == "disk":
        put("log_radius", math.log(params["radius"]))
    elif kind == "motion":
        put("log_length", math.log(params["length"]))
        put("cos2a", math.cos(math.radians(2 * params.get("angle", 0.0))))
        put("sin2a", math.sin(math.radians(2 * params.get("angle", 0.0))))
    elif kind == "trajectory":
        put("log_length", math.log(params["length"]))
    elif kind == "exponential":
        put("log_scale", math.log(params["scale"]))
    return FAMILIES.index(kind), targets
