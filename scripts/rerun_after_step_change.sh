#!/usr/bin/env bash
# Every committed result that depends on the learned data step
# (src/xraydeblur/weights/step/, and benchmarks/weights/unseen-mhh/step/ for the unseen
# source), re-run after either changes. Two lanes that can run side by side, one core
# each:
#
#   bash scripts/rerun_after_step_change.sh patient   # packaged step: rule, oracle, tables
#   bash scripts/rerun_after_step_change.sh unseen    # mhh-held-out step: the same
#   bash scripts/rerun_after_step_change.sh rest      # the rest: failure modes, denoise
#                                                     # strength, whole DICOMs, noise
#                                                     # levels (validation), speed
#
# After a change of the learned PSF estimator's use instead (its rule, the spectral
# refinement of xraydeblur.classical.psf_search.REFINE_PASSES, the Gaussian width
# factor), add "estimator": the lanes then skip what does not use it (the oracle and
# nafnet-kernel, given the true kernel) and re-run the estimator's accuracy instead;
# "rest" re-runs only the whole DICOMs:
#
#   bash scripts/rerun_after_step_change.sh patient estimator
#
# After a change of the step on noisy input only (e.g. its conjugate-gradient iterations
# there, "noisy_cg_iterations"), add "noisy": the rule and the oracle comparison take
# their noise-free records from the committed runs (--reuse: that step unchanged), and
# "rest" skips the noise-free whole DICOMs:
#
#   bash scripts/rerun_after_step_change.sh patient noisy
#
# Order within a lane: nafnet-auto's rule is chosen again on validation first (it scores
# the step), then the test-split tables. Each command writes its own JSON; the Markdown
# tables in docs/results.md come from scripts/flagship_table.py, paired_table.py and
# auto_table.py afterwards.
set -euo pipefail
export XRAYDEBLUR_THREADS=${XRAYDEBLUR_THREADS:-1} OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
BENCH="--protocol benchmark --max-images 12 --crop 256"
UNSEEN="--scheme source --held-out mhh --weights-dir benchmarks/weights/unseen-mhh"
ESTIMATOR_ONLY=$([ "${2:-}" = estimator ] && echo 1 || true)
NOISY_ONLY=$([ "${2:-}" = noisy ] && echo 1 || true)
# the oracle comparison: noisy-only changes re-score the noisy cases, others every case with the oracles kept
ORACLE_REUSE=$([ -n "$NOISY_ONLY" ] || echo --oracles-only)
METHODS=$([ -n "$ESTIMATOR_ONLY" ] && echo "nafnet-auto" || echo "nafnet-kernel nafnet-auto")
ACCURACY="--samples 1500 --max-images 8 --crop 256 --bits 0 8 12"
case "${1:-}" in
patient)
  python benchmarks/learned_psf_rule.py --max-images 10 --crop 256 --bits 0 8 12 16 --steps learned \
    ${NOISY_ONLY:+--reuse benchmarks/results/learned_psf_rule.json} \
    --compare-with benchmarks/results/trials/learned_psf_rule-tables.json --out benchmarks/results/learned_psf_rule.json --write
  if [ -n "$ESTIMATOR_ONLY" ]; then
    python benchmarks/psf_estimator_accuracy.py $ACCURACY --spectral --out benchmarks/results/psf_estimator_accuracy.json
  else
    python benchmarks/kernel_aware_oracle.py --max-images 6 --crop 256 --bits 0 8 10 12 \
      --reuse benchmarks/results/kernel_aware_oracle.json $ORACLE_REUSE --out benchmarks/results/kernel_aware_oracle.json
  fi
  for bits in "" 8 10 12; do
    out=docs/results/benchmark-patient${bits:+-${bits}bit}.json
    xraydeblur evaluate $BENCH ${bits:+--input-bits $bits} --methods $METHODS --out "$out" --update --quiet
    python scripts/auto_table.py "$out" --json docs/results/auto-goals-patient${bits:+-${bits}bit}.json
  done
  ;;
unseen)
  python benchmarks/learned_psf_rule.py $UNSEEN --max-images 10 --crop 256 --bits 0 8 12 16 --steps learned \
    ${NOISY_ONLY:+--reuse benchmarks/results/learned_psf_rule-unseen-mhh.json} \
    --compare-with benchmarks/results/trials/learned_psf_rule-unseen-mhh-tables.json --out benchmarks/results/learned_psf_rule-unseen-mhh.json --write
  if [ -n "$ESTIMATOR_ONLY" ]; then
    python benchmarks/psf_estimator_accuracy.py $ACCURACY --scheme source --held-out mhh \
      --estimator-dir benchmarks/weights/unseen-mhh/psf --out benchmarks/results/psf_estimator_accuracy-unseen-mhh.json
  else
    python benchmarks/kernel_aware_oracle.py --max-images 6 --crop 256 --bits 0 8 10 12 $UNSEEN \
      --reuse benchmarks/results/kernel_aware_oracle-source-mhh.json $ORACLE_REUSE --out benchmarks/results/kernel_aware_oracle-source-mhh.json
  fi
  xraydeblur evaluate $BENCH $UNSEEN --methods $METHODS --out docs/results/benchmark-source-mhh.json --update --quiet
  python scripts/auto_table.py docs/results/benchmark-source-mhh.json --json docs/results/auto-goals-source-mhh.json
  ;;
rest)
  if [ -z "$ESTIMATOR_ONLY" ]; then
    python benchmarks/failure_modes.py --out docs/results/failure-modes.json
    python benchmarks/failure_modes.py --split val --out benchmarks/results/failure-modes-val.json
    xraydeblur evaluate --methods nafnet-kernel --max-images 3 --crop 384 --out docs/results/denoise-strength.json --update --quiet
  fi
  if [ -z "$NOISY_ONLY" ]; then
    python benchmarks/trials/auto_full_size.py --out benchmarks/results/trials/auto_full_size-noisy-learned.json
  fi
  python benchmarks/trials/auto_full_size.py --dose 20000 --out benchmarks/results/trials/auto_full_size-dose20000-noisy-learned.json
  [ -n "$ESTIMATOR_ONLY" ] && exit 0
  python benchmarks/trials/data_step_noise.py --targets 1.0 --learned --learned-iterations 20 50 \
    --blurs gaussian1 gaussian2 motion9 motion15 disk2 --out benchmarks/results/trials/data_step_noise-learned-any-noise.json
  python benchmarks/speed.py --size 2048 --repeats 2 --methods nafnet-blind nafnet-auto --noisy-methods nafnet-auto \
    --out benchmarks/results/speed-auto-learned-step.json
  # and, once nothing else runs, the speed table of scripts/run_evaluations.sh
  # (docs/results/speed.json: timings need an idle machine)
  ;;
*)
  echo "usage: $0 patient|unseen|rest [estimator]" >&2
  exit 2
  ;;
esac
