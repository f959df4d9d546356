#!/usr/bin/env bash
# Protocol step 4's checkpoint choice: once the RL run has written final/, export the step the held-out
# curve picks (highest EM of the 50-question slice at steps 25/50/75/100, a tie to the later: the rule in
# README.md) and make it the run's final/ (the rl:task guide). Resumable: CHOSEN.txt marks it done.
set -euo pipefail
cd /work/main
export GUIDEDCOT_DATA=/work/shared/data
S=~/guidedcot-runs/study
until [ -f $S/rl-task/final/config.json ]; do sleep 30; done
sleep 10
[ -f $S/rl-task/CHOSEN.txt ] && exit 0
kept=(); [ -d $S/rl-task-kept ] && kept=(--checkpoints $S/rl-task-kept)  # the first run's hard links
.venv/bin/guidedcot rl export $S/rl-task --step best "${kept[@]}" --out $S/rl-task/chosen \
  > $S/rl-task/export.log 2>&1
cat $S/rl-task/export.log
step=$(python3 -c "import json; print(json.load(open('$S/rl-task/chosen/guidedcot-rl.json'))['step'])")
mv $S/rl-task/final $S/rl-task/final-step100
mv $S/rl-task/chosen $S/rl-task/final
echo "final/ holds step $step (chosen by the held-out curve: see export.log); final-step100/ the last step" \
  > $S/rl-task/CHOSEN.txt
