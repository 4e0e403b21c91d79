#!/usr/bin/env bash
# Train the flagship restoration network and the learned PSF estimator on one CUDA
# machine inside about 8 minutes, and pack what they produced into one archive.
#
#   XRAYDEBLUR_DATA=/path/to/data bash scripts/train_on_gpu.sh OUT_DIR
#   XRAYDEBLUR_DATA=/path/to/data bash scripts/train_on_gpu.sh OUT_DIR unseen
#   XRAYDEBLUR_DATA=/path/to/data bash scripts/train_on_gpu.sh OUT_DIR large
#
# The second form trains only the NAFNet with the mhh source held out
# (configs/gpu/nafnet_blind_unseen_gpu.yaml, 290 s on 15 workers), for the
# unseen-source benchmark (benchmarks/weights/unseen-mhh). The third trains only the
# larger restoration network, nafnet-large (configs/gpu/nafnet_large_gpu.yaml: the
# flagship deepened, starting as the flagship; 450 s on 15 workers).
#
# Both start from the shipped weights and run side by side: the NAFNet on the GPU fed by
# 11 worker processes (configs/gpu/nafnet_blind_gpu.yaml, 390 s cosine), the PSF estimator
# as 4 CPU processes under torchrun (DDP; its data synthesis, not its small network, is
# the cost). Needs python3 (or $PYTHON) with torch, numpy, scipy, scikit-image, pillow, safetensors,
# pyyaml, tensorboard (no xraydeblur install: src/ is put on PYTHONPATH). Writes
# OUT_DIR/gpu-run.tar.gz (run folders: best weights, logs, settings) and OUT_DIR/*.log.
# NAFNET_CONFIG, PSF_PROCS, PSF_STEPS, PSF_MINUTES, PSF_VAL_EVERY and PSF_EXTRA shrink it
# for a rehearsal on a CPU machine (tests/test_gpu_script.py).
# Back on a CPU machine, unpack it into runs/gpu and compare with the shipped weights:
#   python benchmarks/trials/gpu_run_validation.py runs/gpu
set -u
out=${1:?usage: train_on_gpu.sh OUT_DIR}
mkdir -p "$out/runs"
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
py=${PYTHON:-python3}   # the interpreter that has torch (on the lent machine: python3)
$py - <<'PY'
import torch, os
print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-", "cpus", os.cpu_count())
from xraydeblur.data.manifest import manifest_sha256, load_manifest
print("data", os.environ.get("XRAYDEBLUR_DATA"), len(load_manifest()), "rows, manifest", manifest_sha256())
PY
start=$(date +%s)
single() {  # one NAFNet run alone on the machine: config, run folder, time limit (s)
  timeout "$3" $py -m xraydeblur.train --config "$1" --out "$out/runs/$2" > "$out/$2.log" 2>&1
  rc=$?; echo "$2 exit $rc after $(( $(date +%s) - start )) s"; tail -n 3 "$out/$2.log"
  rm -f "$out"/runs/*/last.pt
  tar czf "$out/gpu-run.tar.gz" -C "$out/runs" . && ls -l "$out/gpu-run.tar.gz"
  exit $rc
}
case "${2:-}" in
  unseen) single "${NAFNET_CONFIG:-configs/gpu/nafnet_blind_unseen_gpu.yaml}" nafnet-blind-unseen-mhh 360 ;;
  large) single "${NAFNET_CONFIG:-configs/gpu/nafnet_large_gpu.yaml}" nafnet-large 520 ;;
  "") ;;
  *) echo "unknown mode ${2}: use unseen, large or nothing" >&2; exit 2 ;;
esac
timeout 480 $py -m xraydeblur.train --config "${NAFNET_CONFIG:-configs/gpu/nafnet_blind_gpu.yaml}" --out "$out/runs/nafnet-blind" > "$out/nafnet.log" 2>&1 &
nafnet=$!
timeout 480 $py -m torch.distributed.run --standalone --nproc_per_node "${PSF_PROCS:-4}" scripts/train_psf_estimator.py --out "$out/runs/psf" \
  --init src/xraydeblur/weights/psf/psf-estimator.safetensors --steps "${PSF_STEPS:-400}" --minutes "${PSF_MINUTES:-6.5}" --lr 5e-4 \
  --val-every "${PSF_VAL_EVERY:-50}" --checkpoint-every 50 ${PSF_EXTRA:-} > "$out/psf.log" 2>&1 &
psf=$!
wait $nafnet; nafnet_rc=$?; echo "nafnet exit $nafnet_rc after $(( $(date +%s) - start )) s"
wait $psf; psf_rc=$?; echo "psf exit $psf_rc after $(( $(date +%s) - start )) s"
tail -n 3 "$out/nafnet.log" "$out/psf.log"
rm -f "$out"/runs/*/last.pt "$out"/runs/*/last.tmp
tar czf "$out/gpu-run.tar.gz" -C "$out/runs" . && ls -l "$out/gpu-run.tar.gz"
# what was packed comes back either way; the status says whether both runs finished
exit $(( nafnet_rc != 0 || psf_rc != 0 ))
