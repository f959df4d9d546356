#!/usr/bin/env bash
# The study on a machine without its study folder (a new machine: model weights are never committed).
# What the trained students need is done again from the committed teacher store, under the same
# configs/study.yaml and the same written rules: the distillation (same seed), the epoch choice
# (select-distill.sh), the RL run and its checkpoint choice (choose-rl.sh), the evaluation of those two
# students on the selection set, and the blind predictions. The evaluations that need no trained
# student (baselines, untrained) are the committed ones, copied, not run again. Order (since the third
# run, a new machine again on 2026-12-03): cot's blind run first (it needs no student, so it can be
# committed within one session), each student's blind run as soon as its choice is made, the
# selection-set evaluation of the two students last. Resumable at every step:
#   setsid nohup nice -n 19 bash results/study/rerun.sh >> ~/guidedcot-runs/study-rerun.log 2>&1 &
set -euo pipefail
cd /work/main
export GUIDEDCOT_DATA=/work/shared/data
S=~/guidedcot-runs/study
R=results/study
G=.venv/bin/guidedcot
mkdir -p $S
[ -d $S/teacher ] || cp -r $R/teacher $S/
# The committed store keeps no dataset text: rebuild its contexts from the data (byte for byte the same).
! grep -q contexts_stripped $S/teacher/manifest.json || .venv/bin/python -m guidedcot.distill.shareable fill $S/teacher
# The committed predictions lack their context field (dataset text, left out to keep the repo small);
# the study's summary reads whole records, so the copy takes them whole from the commit that still had them.
for name in baselines untrained; do
  if [ ! -d $S/eval-gold-$name ]; then
    cp -r $R/eval-gold-$name $S/
    git show 88f1195:$R/eval-gold-$name/predictions.jsonl > $S/eval-gold-$name/predictions.jsonl
  fi
done
bash $R/blind.sh cot
$G study configs/study.yaml --out $S --stage distill
bash $R/select-distill.sh
bash $R/blind.sh guided-kd
$G study configs/study.yaml --out $S --stage rl
bash $R/choose-rl.sh
bash $R/blind.sh guided-rl
$G study configs/study.yaml --out $S --stage evaluate
# Step 5's aspect scores, KD vs RL: the eight aspects judged by the reader on each student's selection-set
# rationales (the reader's answers come from the cache of the evaluation stage); compare pairs them.
for guide in distill-full rl-task; do
  [ -f $S/aspects-$guide/metrics.json ] || $G evaluate --methods guided --dataset hotpotqa:dev \
    --dataset '2wiki:dev[0:100]' --student $S/$guide/final --aspects --out $S/aspects-$guide --set context_mode=gold
done
$G compare $S/aspects-rl-task $S/aspects-distill-full > $S/aspects-rl-vs-kd.txt
