#!/usr/bin/env bash
# The committed result tables (docs/results/): paper protocol and fixed benchmark.
set -euo pipefail
mkdir -p docs/results
xraydeblur evaluate --protocol paper --methods srcnn dae unet nafnet-blind wiener richardson-lucy \
  --out docs/results/paper.json --quiet
xraydeblur evaluate --protocol benchmark --max-images 12 --crop 256 \
  --methods nafnet-blind nafnet-kernel srcnn dae unet wiener richardson-lucy \
  --out docs/results/benchmark-patient.json --quiet
