"""``xraydeblur info``: what a radiograph file is.

Notes on reading (EXIF orientation applied, transparency flattened, decoder warnings)
are listed under "notes". A flat image (all pixels equal) gets no blur assessment."""

import json

from .common import HelpFormatter

EXAMPLES = """examples:
  xraydeblur info chest.dcm
  xraydeblur info --json scan.png
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe a radiograph file", description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("input", help="PNG, JPEG, TIFF or DICOM file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def describe(rad) -> dict:
    """Facts about a decoded radiograph (no pixel values, no patient data)."""
    facts = {
        "format": rad.format,
        "width": rad.width,
        "height": rad.height,
        "bits_stored": rad.bits_stored,
        "photometric": rad.photometric,
    }
    if rad.format == "dicom":
        for key in ("modality", "transfer_syntax", "transfer_syntax_uid", "rescale_slope", "rescale_intercept"):
            facts[key] = rad.info.get(key)
    else:
        facts["mode"] = rad.info.get("mode")
    if rad.info.get("notes"):
        facts["notes"] = "; ".join(rad.info["notes"])
    from ..io import MIN_SIDE, flat_value

    flat = flat_value(rad.pixels)
    if flat is not None or min(rad.width, rad.height) < MIN_SIDE:
        facts["blur_assessment"] = "skipped: " + ("flat image" if flat is not None else f"image under {MIN_SIDE}x{MIN_SIDE} pixels")
        return facts
    from ..classical.estimate import blur_assessment
    from ..overlay import burned_in_mask

    facts.update(blur_assessment(rad.pixels))
    # burned-in text/markers: kept out of deblurring and returned unchanged
    facts["burned_in_overlay_px"] = int(burned_in_mask(rad.pixels).sum())
    return facts


def run(args) -> int:
    from ..io import read_radiograph

    facts = describe(read_radiograph(args.input))
    if args.json:
        print(json.dumps(facts))
        return 0
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        if isinstance(value, float):
            value = f"{value:.3g}"
        print(f"{key:<{width}}  {value}")
    return 0
