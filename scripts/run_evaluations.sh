#!/usr/bin/env bash
# The committed result tables (docs/results/): paper protocol, the fixed benchmark on
# the patient test split, the same benchmark on a source never seen in training (mhh,
# with every network retrained without it: configs/unseen-mhh), and speed at 2048².
set -euo pipefail
mkdir -p docs/results
METHODS="nafnet-blind nafnet-psf nafnet-kernel srcnn dae unet wiener richardson-lucy low-rank"
xraydeblur evaluate --protocol paper --methods srcnn dae dae-fc unet nafnet-blind wiener richardson-lucy \
  --out docs/results/paper.json --quiet
xraydeblur evaluate --protocol paper --scheme source --held-out mhh --weights-dir benchmarks/weights/unseen-mhh \
  --methods srcnn dae unet wiener richardson-lucy --out docs/results/paper-source-mhh.json --quiet
xraydeblur evaluate --protocol benchmark --max-images 12 --crop 256 --methods $METHODS \
  --out docs/results/benchmark-patient.json --quiet
xraydeblur evaluate --protocol benchmark --scheme source --held-out mhh --weights-dir benchmarks/weights/unseen-mhh \
  --max-images 12 --crop 256 --methods $METHODS --out docs/results/benchmark-source-mhh.json --quiet
# the same benchmark with every input rounded to 8 bit, as a PNG or JPEG upload holds it
xraydeblur evaluate --protocol benchmark --max-images 12 --crop 256 --input-bits 8 --methods nafnet-blind nafnet-psf nafnet-kernel wiener richardson-lucy low-rank \
  --out docs/results/benchmark-patient-8bit.json --quiet
# and rounded to 10 and 12 bit, as a DICOM's BitsStored holds it
for bits in 10 12; do
  xraydeblur evaluate --protocol benchmark --max-images 12 --crop 256 --input-bits $bits --methods nafnet-blind nafnet-psf nafnet-kernel wiener richardson-lucy low-rank \
    --out docs/results/benchmark-patient-${bits}bit.json --quiet
done
# nafnet-auto (learned PSF estimator; its rule: benchmarks/learned_psf_rule.py) added to each run above
for suffix in "" 8 10 12; do
  xraydeblur evaluate --protocol benchmark --max-images 12 --crop 256 ${suffix:+--input-bits $suffix} --methods nafnet-auto \
    --out docs/results/benchmark-patient${suffix:+-${suffix}bit}.json --update --quiet
done
xraydeblur evaluate --protocol benchmark --scheme source --held-out mhh --weights-dir benchmarks/weights/unseen-mhh \
  --max-images 12 --crop 256 --methods nafnet-auto --out docs/results/benchmark-source-mhh.json --update --quiet
# speed on an otherwise idle machine; low-rank (~50 s per megapixel) is timed per crop above
python benchmarks/speed.py --size 2048 --repeats 3 --methods nafnet-blind nafnet-auto nafnet-psf nafnet-kernel srcnn dae unet wiener richardson-lucy \
  --noisy-methods nafnet-kernel nafnet-psf nafnet-auto \
  --out docs/results/speed.json
# failure modes on non-anatomical structures, and how common burned-in overlays are
python benchmarks/failure_modes.py --out docs/results/failure-modes.json
python benchmarks/overlay_census.py --split test --benchmark-images 12 --out benchmarks/results/overlay-census.json
python benchmarks/overlay_census.py --split test --scheme source --held-out mhh --benchmark-images 12 --out benchmarks/results/overlay-census-mhh.json
