#!/usr/bin/env bash
# Protocol step 6: the blind set, once per final system (choices written down before: KD = the epoch
# select-distill.sh chose for the students of the run at hand (epoch 2 in the first run, 3 in the second; the third
# run, on a new machine again, chooses by the same rule);
# RL = step 100 by the held-out rule; results/study/README.md). The *_blind_gold.json files hold only the
# gold paragraphs and no supporting facts, so --context-mode distractor on them is the gold context.
# Resumable: every call is cached; a finished system (run.json in the study folder, or its committed
# copy under results/blind/) is skipped. Arguments: the systems to run (default: all four, in order).
set -euo pipefail
cd /work/main
export GUIDEDCOT_DATA=/work/shared/data
S=~/guidedcot-runs/study
B=/work/shared/blind
systems=("$@")
[ ${#systems[@]} -gt 0 ] || systems=(standard cot guided-kd guided-rl)
for system in "${systems[@]}"; do
  out=$S/blind/$system
  [ -f $out/run.json ] && continue
  [ -f results/blind/$system/run.json ] && { echo "$system: committed in results/blind/$system, skipped"; continue; }
  case $system in
    standard) args=(--methods standard) ;;
    cot) args=(--methods cot) ;;
    guided-kd) args=(--methods guided --student $S/distill-full/final) ;;
    guided-rl) args=(--methods guided --student $S/rl-task/final) ;;
  esac
  .venv/bin/guidedcot predict --dataset $B/hotpotqa_blind_gold.json --dataset $B/2wiki_blind_gold.json \
    --context-mode distractor "${args[@]}" --out $out
done
