#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with the wheels the GPU machine may lack, at the project's pins
# (requirements/constraints.txt): it has torch, transformers, accelerate and numpy of its own and no
# network. bench/gpu_call.sh installs each one the machine lacks or holds at another version.
#   bash bench/gpu_wheels.sh      (bench/gpu_prepare.py writes .gpu)
# The wheels (~55 MB) and .gpu (~21 MB) together pass the device tool's 64 MiB carry: carry .whl alone in
# a first call (`bash bench/gpu_call.sh` with no phase installs them into /tmp/site, which a warm machine
# keeps), then .gpu alone in the calls that run phases.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(transformers peft trl starlette uvicorn h11 anyio sniffio typer click shellingham rich markdown-it-py
  mdurl pygments httpx httpcore certifi idna gguf pyyaml tensorboard tensorboard-data-server absl-py grpcio
  markdown protobuf werkzeug matplotlib contourpy cycler fonttools kiwisolver pillow pyparsing python-dateutil six
  pydantic pydantic_core annotated-types typing-inspection)
pins=()
for package in "${packages[@]}"; do
  pin=$(grep -i -E "^${package}==" requirements/constraints.txt || true)
  [ -n "$pin" ] && pins+=("$pin")
done
rm -rf .whl && mkdir -p .whl
.venv/bin/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform any \
  -d .whl "${pins[@]}"
du -sh .whl
