#!/usr/bin/env bash
# One call on the GPU machine (the device tool): set up, then run the named phases in order.
#   bash bench/gpu_call.sh paths sft generate ddp     (carry .whl and .gpu's parts: bench/gpu_wheels.sh; logs and JSON under $OUT)
# rl: the RL loop alone (causal PPO / GRPO, seq2seq GRPO, a resume).
# paths: the CUDA paths from the commands users type (distill train causal/seq2seq x full/LoRA, rl ppo/grpo)
# sft-shapes: the recompiles of compiled packed SFT (SFT_VARIANTS, SFT_STEPS, SFT_WARMUP).
# profile: bench/gpu_profile.py rollout (kernel tables of a graphed decode step, two changes beside it);
#   profile-sft: the same for one SFT variant (SFT_VARIANT, default pack+compile+chunk@128).
# rollout: bench/gpu_rollout.py (RL's rollouts: generate vs StaticRollouts, speed and checks).
# chunk: bench/gpu_sft.py with the chunked loss (check, then packed batches of 64-256 examples, Qwen2.5-0.5B).
# sft: bench/gpu_sft.py; pack: packing (check, then throughput); t5: the same for T5-Large; generate: bench/gpu_generate.py; ddp: bench/gpu_sft.py on 1 and 2 GPUs.
# paper-t5: configs/paper-hotpotqa.yaml at its real size (T5-Large student, an 11B T5-v1.1-XXL reader in
#   bf16 through transformers on the same GPU): rl --algo ppo with --reward task and task+aspect, distill train.
# flex-adopt: distill train's flex attention and first-fit packing (bound, sdpa vs flex, the CLI path).
# paper-qwen: configs/scale.yaml's (Qwen2.5-0.5B student, a 14B Qwen2.5 reader on the same GPU): rl grpo, distill train.
set -u
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export GUIDEDCOT_DATA=$PWD/.gpu/data GUIDEDCOT_CACHE=/tmp/gcache
# Wheels for what the machine lacks, or holds at another version (the project's transformers and peft
# pins travel; its own torch and accelerate stay).
missing=()
for wheel in .whl/*.whl; do
  name=$(basename "$wheel" | cut -d- -f1 | tr 'A-Z' 'a-z')
  version=$(basename "$wheel" | cut -d- -f2)
  have=$(python3 -c "import importlib.metadata as m; print(m.version('$name'))" 2>/dev/null)
  if [ -n "$have" ] && [ "$have" != "$version" ]; then missing+=("$wheel"); continue; fi
  case $name in
    absl_py) module=absl ;; annotated_doc) module=annotated_doc ;; fonttools) module=fontTools ;;
    grpcio) module=grpc ;; markdown_it_py) module=markdown_it ;; protobuf) module=google.protobuf ;;
    python_dateutil) module=dateutil ;; tensorboard_data_server) module=tensorboard_data_server ;;
    *) module=$name ;;
  esac
  python3 -c "import $module" 2>/dev/null || missing+=("$wheel")
done
if [ ${#missing[@]} -gt 0 ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site "${missing[@]}" || exit 1
fi
export PYTHONPATH=$PWD/src:$PWD/bench:/tmp/site
{
  nvidia-smi -L
  python3 -c "import torch, transformers, accelerate, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'accelerate', accelerate.__version__, 'peft', peft.__version__, 'gpus', torch.cuda.device_count())"
  echo "installed from wheels: ${missing[*]:-none}"
} 2>&1 | tee "$OUT/env.txt"
GCOT="python3 -m guidedcot.cli.app"
run() {  # run NAME COMMAND...: log to $OUT/NAME.log, one status line; PHASE_TIMEOUT caps each command
  local name=$1; shift
  local started=$SECONDS
  timeout "${PHASE_TIMEOUT:-3000}" "$@" > "$OUT/$name.log" 2>&1
  echo "$name: exit $? in $((SECONDS - started)) s" | tee -a "$OUT/status.txt"
}
for phase in "$@"; do
  case $phase in
    paths)
      python3 bench/gpu_models.py /tmp/models --tokenizer .gpu/smollm2-tokenizer --only smollm2-135m t5-large tiny-reader > "$OUT/models.log" 2>&1
      common=(--teacher-store .gpu/teacher --max-steps 12 --set batch_size=8 --set save_steps=6 --set logging_steps=2)
      run distill-causal-full $GCOT distill train --student /tmp/models/smollm2-135m --out /tmp/runs/d1 --full "${common[@]}"
      run distill-causal-lora $GCOT distill train --student /tmp/models/smollm2-135m --out /tmp/runs/d2 --lora "${common[@]}"
      run distill-seq2seq-full $GCOT distill train --student /tmp/models/t5-large --out /tmp/runs/d3 --full "${common[@]}"
      run distill-seq2seq-lora $GCOT distill train --student /tmp/models/t5-large --out /tmp/runs/d4 --lora "${common[@]}"
      rl=(--reward task --student /tmp/models/smollm2-135m --reader /tmp/models/tiny-reader --set reader.backend=transformers
          --steps 3 --set questions_per_step=8 --set group_size=4 --set eval_limit=4 --set cache=none --set save_every=3)
      run rl-ppo $GCOT rl --algo ppo --out /tmp/runs/rl-ppo "${rl[@]}"
      run rl-grpo $GCOT rl --algo grpo --out /tmp/runs/rl-grpo "${rl[@]}"
      for r in rl-ppo rl-grpo; do cp /tmp/runs/$r/metrics.jsonl "$OUT/$r-metrics.jsonl" 2>/dev/null; done
      ;;
    rl)  # the RL loop alone on CUDA: causal PPO and GRPO, seq2seq GRPO (shared-prompt paths, the refactored loop)
      python3 bench/gpu_models.py /tmp/models --tokenizer .gpu/smollm2-tokenizer --only smollm2-135m t5-large tiny-reader > "$OUT/models.log" 2>&1
      rl=(--reward task --reader /tmp/models/tiny-reader --set reader.backend=transformers --steps 3
          --set questions_per_step=8 --set group_size=4 --set eval_limit=4 --set cache=none --set save_every=3)
      run rl-ppo $GCOT rl --algo ppo --student /tmp/models/smollm2-135m --out /tmp/runs/rl-ppo "${rl[@]}"
      run rl-grpo $GCOT rl --algo grpo --student /tmp/models/smollm2-135m --out /tmp/runs/rl-grpo "${rl[@]}"
      run rl-grpo-t5 $GCOT rl --algo grpo --student /tmp/models/t5-large --out /tmp/runs/rl-grpo-t5 "${rl[@]}"
      run rl-grpo-resume $GCOT rl --algo grpo --student /tmp/models/smollm2-135m --out /tmp/runs/rl-grpo --resume "${rl[@]}" --steps 4
      run rl-grpo-static $GCOT rl --algo grpo --student /tmp/models/smollm2-135m --out /tmp/runs/rl-grpo-static "${rl[@]}" --steps 4 --set rollout_cache=static
      run rl-grpo-static-resume $GCOT rl --algo grpo --student /tmp/models/smollm2-135m --out /tmp/runs/rl-grpo-static --resume "${rl[@]}" --steps 5 --set rollout_cache=static
      for r in rl-ppo rl-grpo rl-grpo-t5 rl-grpo-static; do cp /tmp/runs/$r/metrics.jsonl "$OUT/$r-metrics.jsonl" 2>/dev/null; done
      ;;
    rl-static)  # the RL loop with rollout_cache=static (auto's choice on a GPU) beside the dynamic one, and a resume
      python3 bench/gpu_models.py /tmp/models --tokenizer .gpu/smollm2-tokenizer --only smollm2-135m tiny-reader > "$OUT/models.log" 2>&1
      rl=(--reward task --reader /tmp/models/tiny-reader --set reader.backend=transformers --student /tmp/models/smollm2-135m
          --set questions_per_step=16 --set group_size=4 --set eval_limit=4 --set cache=none --set save_every=3 --algo grpo)
      run rl-grpo $GCOT rl --out /tmp/runs/rl-grpo "${rl[@]}" --steps 4 --set rollout_cache=dynamic
      run rl-grpo-static $GCOT rl --out /tmp/runs/rl-grpo-static "${rl[@]}" --steps 3 --set rollout_cache=static
      run rl-grpo-static-resume $GCOT rl --out /tmp/runs/rl-grpo-static --resume "${rl[@]}" --steps 4 --set rollout_cache=static
      for r in rl-grpo rl-grpo-static; do cp /tmp/runs/$r/metrics.jsonl "$OUT/$r-metrics.jsonl" 2>/dev/null; done
      ;;
    paper-t5)
      python3 bench/gpu_models.py /tmp/models --tokenizer .gpu/smollm2-tokenizer --only t5-large t5-xxl > "$OUT/models-t5.log" 2>&1
      paper=(--student /tmp/models/t5-large --reader /tmp/models/t5-xxl --set reader.backend=transformers
             --set reader.batch_size="${READER_BATCH:-16}" --set datasets=hotpotqa:train --set questions_per_step=16
             --set group_size=1 --set learning_rate=2e-6 --set kl_coef=0.01 --set target_kl=0.1 --set eval_limit=0
             --set cache=none --set save_every=100)
      run paper-ppo-task $GCOT rl --algo ppo --reward task --steps 3 --out /tmp/runs/paper-task "${paper[@]}"
      run paper-ppo-task-aspect $GCOT rl --algo ppo --reward task+aspect --steps 2 --out /tmp/runs/paper-task-aspect "${paper[@]}"
      run paper-distill $GCOT distill train --student /tmp/models/t5-large --teacher-store .gpu/teacher --out /tmp/runs/paper-distill \
          --full --max-steps 20 --set batch_size=16 --set learning_rate=1e-4 --set logging_steps=5 --set save_steps=100
      for r in paper-task paper-task-aspect; do cp /tmp/runs/$r/metrics.jsonl "$OUT/$r-metrics.jsonl" 2>/dev/null; done
      cp /tmp/runs/paper-distill/training.json "$OUT/paper-distill-training.json" 2>/dev/null
      rm -rf /tmp/models/t5-xxl
      ;;
    paper-qwen)
      python3 bench/gpu_models.py /tmp/models --tokenizer .gpu/qwen-tokenizer --only qwen2.5-0.5b qwen2.5-14b > "$OUT/models-qwen.log" 2>&1
      scale=(--student /tmp/models/qwen2.5-0.5b --reader /tmp/models/qwen2.5-14b --set reader.backend=transformers
             --set reader.batch_size="${READER_BATCH:-32}" --set 'datasets=["hotpotqa:train", "2wiki:dev[100:250]"]'
             --set context_mode=distractor --set questions_per_step=32 --set group_size=8 --set minibatch_size=32
             --set learning_rate=1e-6 --set eval_limit=0 --set cache=none --set save_every=100)
      run scale-grpo-task-aspect $GCOT rl --algo grpo --reward task+aspect --steps "${SCALE_STEPS:-2}" --out /tmp/runs/scale-grpo "${scale[@]}"
      run scale-distill $GCOT distill train --student /tmp/models/qwen2.5-0.5b --teacher-store .gpu/teacher --out /tmp/runs/scale-distill \
          --full --max-steps 20 --set batch_size=16 --set learning_rate=2e-5 --set logging_steps=5 --set save_steps=100
      cp /tmp/runs/scale-grpo/metrics.jsonl "$OUT/scale-grpo-metrics.jsonl" 2>/dev/null
      cp /tmp/runs/scale-distill/training.json "$OUT/scale-distill-training.json" 2>/dev/null
      rm -rf /tmp/models/qwen2.5-14b
      ;;
    # one process on one GPU: with several visible the HF Trainer silently runs DataParallel
    sft) CUDA_VISIBLE_DEVICES=0 run sft python3 bench/gpu_sft.py --out "$OUT/sft.jsonl" ;;
    pack) CUDA_VISIBLE_DEVICES=0 run pack python3 bench/gpu_sft.py --check-packing --models qwen2.5-0.5b smollm2-135m \
            --variants after pack pack@64 pack+compile@64 pack@128 --out "$OUT/pack.jsonl" ;;
    liger) CUDA_VISIBLE_DEVICES=0 run liger python3 bench/gpu_sft.py --models qwen2.5-0.5b smollm2-135m \
            --variants pack+compile@64 pack+liger@64 pack+compile+liger@64 pack+compile+liger@128 --out "$OUT/liger.jsonl" ;;
    chunk) CUDA_VISIBLE_DEVICES=0 run chunk python3 bench/gpu_sft.py --check-chunked --models qwen2.5-0.5b \
            --variants pack+compile@64 pack+compile+chunk@64 pack+compile+chunk@128 pack+compile+chunk@256 \
            pack+compile+chunk+flex@128 --out "$OUT/chunk.jsonl" ;;
    generate) run generate python3 bench/gpu_generate.py --out "$OUT/generate.jsonl" ;;
    rollout) run rollout python3 bench/gpu_rollout.py --out "$OUT/rollout.jsonl" ;;
    profile) run profile python3 bench/gpu_profile.py rollout --models ${PROFILE_MODELS:-smollm2-135m qwen2.5-0.5b} --variants ${PROFILE_VARIANTS:-0 1 2 3} --out "$OUT/profile.jsonl" ;;
    rollout-checks) run rollout-checks python3 bench/gpu_rollout.py --parts checks --out "$OUT/rollout-checks.jsonl" ;;
    profile-sft) CUDA_VISIBLE_DEVICES=0 run profile-sft python3 bench/gpu_profile.py sft --models qwen2.5-0.5b \
                   --variant "${SFT_VARIANT:-pack+compile+chunk@128}" --out "$OUT/profile-sft.jsonl" ;;
    sft-shapes)  # the recompile log and graph count of compiled packed SFT
      CUDA_VISIBLE_DEVICES=0 TORCH_LOGS=recompiles,graph_breaks run sft-shapes python3 bench/gpu_sft.py --models qwen2.5-0.5b \
        --steps "${SFT_STEPS:-6}" --warmup "${SFT_WARMUP:-4}" --variants ${SFT_VARIANTS:-pack+compile@64 pack+compile+chunk@64} \
        --out "$OUT/sft-shapes.jsonl" ;;
    flex-adopt)  # distill train's flex attention (attention auto) and first-fit packing: the matmul bound, sdpa vs flex
      # alternating in one process, then the CLI path (needs .gpu/qwen-tokenizer)
      python3 bench/gpu_models.py /tmp/models --tokenizer .gpu/qwen-tokenizer --only qwen2.5-0.5b > "$OUT/models-qwen.log" 2>&1
      CUDA_VISIBLE_DEVICES=0 run flex-sft python3 bench/gpu_sft.py --gemm-bound 22528 --check-packing --models qwen2.5-0.5b \
        --steps "${SFT_STEPS:-10}" --warmup "${SFT_WARMUP:-6}" \
        --variants ${SFT_VARIANTS:-pack+compile@64 pack+compile+flex@64 pack+compile@64 pack+compile+flex@64} --out "$OUT/flex.jsonl"
      CUDA_VISIBLE_DEVICES=0 run flex-distill $GCOT distill train --student /tmp/models/qwen2.5-0.5b --teacher-store .gpu/teacher \
        --out /tmp/runs/flex-distill --full --max-steps 12 --set batch_size=64 --set packing=true --set torch_compile=true \
        --set learning_rate=2e-5 --set logging_steps=2 --set save_steps=100
      cp /tmp/runs/flex-distill/training.json "$OUT/flex-distill-training.json" 2>/dev/null
      ;;
    t5) CUDA_VISIBLE_DEVICES=0 run sft-t5 python3 bench/gpu_sft.py --models t5-large --variants stock before after --out "$OUT/sft.jsonl" ;;
    ddp)
      CUDA_VISIBLE_DEVICES=0 run ddp-1 python3 bench/gpu_sft.py --models smollm2-135m qwen2.5-0.5b --variants after --out "$OUT/ddp.jsonl"
      run ddp-2 accelerate launch --num_processes 2 --multi_gpu bench/gpu_sft.py --models smollm2-135m qwen2.5-0.5b --variants after --out "$OUT/ddp.jsonl"
      ;;
  esac
done
cat "$OUT/status.txt"
