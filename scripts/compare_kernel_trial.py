"""Compare a trial kernel-aware network with the shipped one against the blind flagship,
on the validation split, each after the data step at the *shipped* gain of each row's
run-time class (mean PSNR in dB, from two ``benchmarks/data_step_gain.py`` JSONs).

    python scripts/compare_kernel_trial.py benchmarks/results/trials/data_step_gain-nafnet-kernel-stage2.json
"""
import json
import sys

ship = json.load(open("benchmarks/results/data_step_gain.json"))
trial = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/trials/data_step_gain-nafnet-kernel-stage2.json"))
def col(g): return "discrepancy 1" if g == "discrepancy" else ("gain inf" if g in (float("inf"), "inf") else f"gain {g:g}")
print("| degradation | blind (stage 2) | kernel shipped, after step | kernel stage-2 trial, after step | trial - blind |")
print("|---|---|---|---|---|")
d1=[];d2=[]
for row, cls in ship["row_class"].items():
    c = col(ship["gains"][cls]); b = ship["table"][row]["blind"]; a = ship["table"][row][c]; t = trial["table"][row][c]
    d1.append(a-b); d2.append(t-b)
    print(f"| {row} | {b:.2f} | {a:.2f} | {t:.2f} | {t-b:+.2f} |")
print(f"mean kernel-blind shipped {sum(d1)/len(d1):+.3f}, trial {sum(d2)/len(d2):+.3f}; rows trial>=blind {sum(x>=0 for x in d2)}/14, shipped {sum(x>=0 for x in d1)}/14")
