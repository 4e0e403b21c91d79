"""Trial (issue 26): ``nafnet-auto`` with the learned data step instead of the gain tables.

``nafnet-auto`` restores with the PSF the learned estimator identifies when it trusts
it; on noise-free input its data step then took the per-class gain tables, while a known
kernel gets the learned step (:mod:`xraydeblur.infer.learned_step`). This scores both on
the VALIDATION split (the test split is never read): a temporary weights folder holds
the shipped blind network and estimator (links) and two variants, ``nafnet-auto`` as
shipped before (tables) and ``nafnet-auto-ls`` (``"step": "learned"``), with
``nafnet-kernel`` given the true kernel for reference, at float, 8 and 12 bit::

    python benchmarks/trials/auto_learned_step.py

writes ``benchmarks/results/trials/auto_learned_step-val[-Nbit].json`` (and ``.md``).
"""

import json
import sys
import tempfile
from pathlib import Path

from xraydeblur.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "src/xraydeblur/weights"
OUT = ROOT / "benchmarks/results/trials"
VARIANT = {"network": "nafnet-blind", "identify_psf": "learned", "gains": "known", "rank": 1}


def trial_folder(folder: Path) -> None:
    for name in ("nafnet-blind.safetensors", "nafnet-blind.json", "psf"):
        (folder / name).symlink_to(WEIGHTS / name)
    (folder / "nafnet-auto.json").write_text(json.dumps({"name": "nafnet-auto", **VARIANT, "description": "nafnet-auto with the gain tables"}))
    (folder / "nafnet-auto-ls.json").write_text(json.dumps({"name": "nafnet-auto-ls", **VARIANT, "step": "learned", "description": "nafnet-auto with the learned step"}))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        trial_folder(Path(tmp))
        for bits in (None, 8, 12):
            out = OUT / f"auto_learned_step-val{'' if bits is None else f'-{bits}bit'}.json"
            args = ["evaluate", "--split", "val", "--max-images", "12", "--crop", "256", "--weights-dir", tmp,
                    "--methods", "nafnet-auto", "nafnet-auto-ls", "nafnet-kernel", "--out", str(out), "--quiet"]
            cli(args + ([] if bits is None else ["--input-bits", str(bits)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
