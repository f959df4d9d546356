#!/usr/bin/env bash
# Protocol step 6: the blind set, once per final system (choices written down before: KD = epoch 2,
# RL = step 100 by the held-out rule; results/study/README.md). The *_blind_gold.json files hold only the
# gold paragraphs and no supporting facts, so --context-mode distractor on them is the gold context.
# Resumable: every call is cached; a finished system is skipped.
set -euo pipefail
cd /work/main
export GUIDEDCOT_DATA=/work/shared/data
S=~/guidedcot-runs/study
B=/work/shared/blind
for system in standard cot guided-kd guided-rl; do
  out=$S/blind/$system
  [ -f $out/run.json ] && continue
  case $system in
    standard) args=(--methods standard) ;;
    cot) args=(--methods cot) ;;
    guided-kd) args=(--methods guided --student $S/distill-full/final) ;;
    guided-rl) args=(--methods guided --student $S/rl-task/final) ;;
  esac
  .venv/bin/guidedcot predict --dataset $B/hotpotqa_blind_gold.json --dataset $B/2wiki_blind_gold.json \
    --context-mode distractor "${args[@]}" --out $out
done
