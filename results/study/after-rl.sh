#!/usr/bin/env bash
# Protocol step 4's checkpoint choice (choose-rl.sh), then step 5: the evaluation stage.
set -euo pipefail
cd /work/main
bash results/study/choose-rl.sh
.venv/bin/guidedcot study configs/study.yaml --out ~/guidedcot-runs/study --stage evaluate
