#!/usr/bin/env bash
# The distillation epoch, chosen on the selection slice (the RL eval slice: hotpotqa:dev[0:25] + 2wiki:dev[0:25]):
# guided EM of the checkpoint of each epoch (steps 99, 198) and of final/.
cd /work/main
export GUIDEDCOT_DATA=/work/shared/data
S=~/guidedcot-runs/study
for name in checkpoint-99 checkpoint-198 final; do
  if [ $name = final ]; then dir=$S/distill-full/final; marker=$dir/config.json; else dir=$S/distill-full/checkpoints/$name; marker=$dir/trainer_state.json; fi
  until [ -f "$marker" ]; do sleep 30; done
  sleep 20
  out=$S/select-distill/$name
  [ -f $out/summary.json ] && continue
  .venv/bin/guidedcot evaluate --methods guided --dataset 'hotpotqa:dev[0:25]' --dataset '2wiki:dev[0:25]' \
    --student "$dir" --out "$out" --set context_mode=gold
done
