"""``xraydeblur blur``: apply a known, realistic degradation (for tests and demos).

A DICOM output is labelled as a synthetic degradation (DerivationDescription
"Synthetic degradation by xraydeblur ...", SeriesDescription "... blurred (synthetic)"),
never as a deblurred image. Images under 16x16 pixels are refused.
"""

import sys
from pathlib import Path

from .common import HelpFormatter, add_kernel_arguments, degradation_from_args, ensure_not_input

EXAMPLES = """examples:
  xraydeblur blur sharp.png -o blurred.png --kernel gaussian --sigma 2
  xraydeblur blur chest.dcm -o moved.dcm --kernel motion --length 9 --angle 30 --noise 2000 --seed 1
  xraydeblur blur sharp.tif -o spot.tif --kernel disk --radius 2
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("blur", help="blur (and add noise to) a radiograph", description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("input", help="PNG, JPEG, TIFF or DICOM file")
    p.add_argument("-o", "--output", required=True, help="output file (same format as the input unless the suffix says otherwise)")
    add_kernel_arguments(p)
    p.add_argument("--noise", type=float, metavar="DOSE", help="add Poisson-Gaussian noise: photons per pixel at full scale")
    p.add_argument("--read-noise", type=float, default=0.002, help="read-noise standard deviation in [0, 1] units (with --noise)")
    p.add_argument("--seed", type=int, default=0, help="random seed (noise, trajectory)")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..errors import printable
    from ..io import check_min_side, read_radiograph, write_radiograph

    src, out = Path(args.input), Path(args.output)
    ensure_not_input(out, [src])
    degradation = degradation_from_args(args, seed=args.seed)
    rad = read_radiograph(src)
    check_min_side(rad.width, rad.height)
    blurred, kernel = degradation.apply(rad.pixels, seed=args.seed)
    write_radiograph(rad, blurred, out, method=degradation.name, synthetic=True)
    for note in rad.info.get("notes", []):
        print(f"xraydeblur: note: {note}", file=sys.stderr)
    print(f"{printable(src)} -> {printable(out)} ({degradation.name}, kernel {kernel.shape[0]}x{kernel.shape[1]})")
    return 0
