"""Trial (do no harm): did ``xraydeblur info``'s ``deblur_advisable`` agree with the
default pipeline's decision? Before the fix, :func:`xraydeblur.classical.blur_assessment`
read the blur evidence on the whole image (:func:`xraydeblur.classical.estimate.blur_evidence`)
with the shipped rule and no motion cue, while the pipeline reads the central region
(:func:`xraydeblur.classical.no_blur.image_blur_evidence`) and asks the motion cue
where that sees no blur. On the whole validation radiographs and the shared DICOMs (all
unblurred; the test split is never read), prints each image where the former reading,
or ``blur_assessment`` as it is now, differs from the pipeline's decision, and writes
the counts to JSON.

    python benchmarks/trials/info_vs_pipeline.py --out benchmarks/results/trials/info_vs_pipeline.json
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def main() -> None:
    from xraydeblur.classical import blur_assessment
    from xraydeblur.classical.estimate import blur_evidence
    from xraydeblur.classical.no_blur import image_blur_evidence, motion_cue, shows_blur
    from xraydeblur.data import load_image
    from xraydeblur.data.manifest import data_root
    from xraydeblur.data.splits import split_rows
    from xraydeblur.io import read_radiograph

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out")
    args = parser.parse_args()

    images = [(row.file, lambda row=row: load_image(row)) for row in split_rows("val")]
    images += [(f"dicom/{p.name}", lambda p=p: read_radiograph(p).pixels) for p in sorted((data_root() / "dicom").iterdir())]
    former_differs, now_differs = [], []
    for name, load in images:
        image = load()
        pipeline = shows_blur(image_blur_evidence(image)) or motion_cue(image)["shows_motion"]
        if shows_blur(blur_evidence(image)) != pipeline:
            former_differs.append(name)
            print(f"former info differs: {name} (pipeline deblurs: {pipeline})", flush=True)
        if blur_assessment(image)["deblur_advisable"] != pipeline:
            now_differs.append(name)
            print(f"info differs: {name} (pipeline deblurs: {pipeline})", flush=True)
    result = {
        "command": "python benchmarks/trials/info_vs_pipeline.py " + " ".join(sys.argv[1:]),
        "images": len(images),
        "former_info_differs": former_differs,
        "info_differs": now_differs,
    }
    print(f"{len(former_differs)} of {len(images)} unblurred images: the former info differed from the pipeline; now {len(now_differs)}")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
