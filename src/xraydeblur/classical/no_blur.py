"""The "no blur worth removing" rule: does a radiograph show blur at all?

A deblurring tool must not touch a sharp image (it would only smooth its noise texture
and fine detail away). :func:`shows_blur` reads the evidence of
:func:`xraydeblur.classical.estimate.blur_evidence` (width of the roll-off in the most
blurred direction, high-frequency anisotropy) against two thresholds chosen on the
validation split so that every unblurred validation radiograph counts as sharp
(``benchmarks/no_blur_rule.py --write-rule``; the thresholds and how they were chosen
are in ``no_blur_rule.json`` beside this file, the false-negative rates per blur in
``benchmarks/results/no_blur_rule.json``).

>>> import numpy as np
>>> shows_blur({"sigma_px": 0.0, "hf_anisotropy": 0.9})
False
"""

import json
from functools import lru_cache
from pathlib import Path

RULE_PATH = Path(__file__).with_name("no_blur_rule.json")


@lru_cache(maxsize=1)
def shipped_rule() -> dict:
    """The thresholds in use: ``max_sigma_px`` (px) and ``min_hf_anisotropy`` (0-1)."""
    return json.loads(RULE_PATH.read_text())


def shows_blur(evidence: dict, rule: dict | None = None) -> bool:
    """True when ``evidence`` (:func:`~xraydeblur.classical.estimate.blur_evidence`)
    shows blur: its width exceeds ``rule["max_sigma_px"]`` or its high-frequency
    anisotropy falls below ``rule["min_hf_anisotropy"]`` (default: the shipped rule)."""
    rule = rule or shipped_rule()
    return evidence["sigma_px"] > rule["max_sigma_px"] or evidence["hf_anisotropy"] < rule["min_hf_anisotropy"]
