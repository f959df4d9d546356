#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with the wheels the GPU machine lacks, at the project's pins
# (requirements/constraints.txt): it has torch, transformers, accelerate and numpy of its own and no
# network. bench/gpu_call.sh installs each one the machine lacks or holds at another version.
#   bash bench/gpu_wheels.sh      (bench/gpu_prepare.py writes .gpu)
# The list is what the machine's image lacked on 2026-12-02 (gpu_call.sh's env.txt names what it
# installed); the image had rich, httpx, h11, pygments, shellingham, tensorboard, protobuf, werkzeug,
# matplotlib and their kin at the pinned versions. A package that goes missing there fails at import:
# add it here. The machine goes cold 30 s after a call, so every call carries the wheels (~39 MB) beside
# what it needs of .gpu (~24 MB with the Qwen tokenizer, which only paper-qwen reads): e.g. carry
# .whl .gpu/data .gpu/smollm2-tokenizer .gpu/teacher .gpu/lengths.json.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(transformers peft trl starlette uvicorn anyio sniffio typer click markdown-it-py certifi idna gguf
  pyyaml absl-py grpcio markdown contourpy fonttools pillow python-dateutil
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
