#!/usr/bin/env bash
# The distillation epoch, chosen on the selection slice (the RL eval slice: hotpotqa:dev[0:25] + 2wiki:dev[0:25]):
# guided EM of the checkpoint of each epoch (steps 99, 198) and of final/. The rule (results/study/README.md):
# the highest EM of the 50, a tie to the later checkpoint; the chosen one becomes distill-full/final/ (the
# last epoch's weights move to final-epoch3/), and select-distill.json records the numbers and the choice.
set -euo pipefail
cd /work/main
export GUIDEDCOT_DATA=/work/shared/data
S=~/guidedcot-runs/study
[ -f $S/select-distill.json ] && exit 0
for name in checkpoint-99 checkpoint-198 final; do
  if [ $name = final ]; then dir=$S/distill-full/final; marker=$dir/config.json; else dir=$S/distill-full/checkpoints/$name; marker=$dir/trainer_state.json; fi
  until [ -f "$marker" ]; do sleep 30; done
  sleep 20
  out=$S/select-distill/$name
  [ -f $out/metrics.json ] && continue
  .venv/bin/guidedcot evaluate --methods guided --dataset 'hotpotqa:dev[0:25]' --dataset '2wiki:dev[0:25]' \
    --student "$dir" --out "$out" --set context_mode=gold
done
python3 - "$S" <<'PY'
import json, shutil, sys
from pathlib import Path

study = Path(sys.argv[1])
order = ["checkpoint-99", "checkpoint-198", "final"]
result = {"rule": "highest guided EM of the 50 (hotpotqa:dev[0:25] + 2wiki:dev[0:25], gold context); "
          "a tie goes to the later checkpoint"}
correct = {}
for name in order:
    scores = json.loads((study / "select-distill" / name / "metrics.json").read_text())["scores"]
    per = {s["dataset"]: {"n": s["n"], "em": s["em"], "f1": s["f1"]} for s in scores if s["type"] == "all"}
    correct[name] = sum(round(p["em"] * p["n"]) for p in per.values())
    result[name] = {"per_dataset": per, "em_correct_of_50": correct[name]}
chosen = max(reversed(order), key=lambda name: correct[name])  # reversed: a tie keeps the later one
distill = study / "distill-full"
if chosen != "final":
    shutil.move(distill / "final", distill / "final-epoch3")
    source = distill / "checkpoints" / chosen
    shutil.copytree(source, distill / "final",
                    ignore=shutil.ignore_patterns("optimizer.pt", "scheduler.pt", "rng_state*.pth"))
    for extra in (distill / "final-epoch3").iterdir():  # tokenizer, guidedcot-training.json: what final/ had beside the weights
        if not (distill / "final" / extra.name).exists():
            shutil.copy2(extra, distill / "final" / extra.name)
    result["chosen"] = f"{chosen}: {correct[chosen]}/50; distill-full/final/ now holds it (the epoch-3 weights are in final-epoch3/)"
else:
    result["chosen"] = f"final (epoch 3): {correct[chosen]}/50"
(study / "select-distill.json").write_text(json.dumps(result, indent=1) + "\n")
print(result["chosen"])
PY
