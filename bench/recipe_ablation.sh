#!/usr/bin/env bash
# What each part of `--recipe cifar10-fast` buys: the recipe on a smaller, shorter run (MobileNet
# 0.25, 6 epochs by default), once whole and once without each part, two runs at a time on one
# thread each (only accuracy is compared here, not time). Prints a Markdown table; logs and
# checkpoints stay in OUT. Not run by CI.
#
#   bench/recipe_ablation.sh OUT [CIFAR-10 folder] [alpha] [epochs]
set -euo pipefail
out=${1:?usage: bench/recipe_ablation.sh OUT [CIFAR-10 folder] [alpha] [epochs]}
data=${2:-$HOME/.cache/cifar10/cifar-10-batches-bin}
alpha=${3:-0.25}
epochs=${4:-6}
bin=$(cd "$(dirname "$0")/.." && pwd)/.build/release/mobilenet
mkdir -p "$out"
warmup=$((epochs / 5 * 390))
arms=(
  "recipe|"
  "cosine instead of one-cycle|--schedule cosine"
  "decay on every parameter|--weight-decay-on all"
  "no weight average|--ema 0"
  "no Cutout|--cutout 0"
  "no label smoothing|--label-smoothing 0"
  "batch 256, lr 0.2 (scaled)|--batch-size 256"
  "peak rate 0.2|--lr 0.2"
  "no Nesterov|--no-nesterov"
)
run() {
  local name=$1 extra=$2 tag
  tag=$(echo "$name" | tr -c 'a-zA-Z0-9\n' '-')
  # shellcheck disable=SC2086
  "$bin" train --recipe cifar10-fast --alpha "$alpha" --epochs "$epochs" --data "$data" --threads 1 \
    --checkpoint "$out/$tag.safetensors" --log "$out/$tag.jsonl" --json $extra >"$out/$tag.json" 2>"$out/$tag.err"
  if [ "$name" = recipe ]; then
    "$bin" eval --checkpoint "$out/$tag.safetensors" --json >"$out/$tag.plain-eval.json"
  fi
}
for ((i = 0; i < ${#arms[@]}; i += 2)); do
  for j in $i $((i + 1)); do
    [ "$j" -lt ${#arms[@]} ] || continue
    IFS='|' read -r name extra <<<"${arms[$j]}"
    run "$name" "$extra" &
  done
  wait
done
python3 - "$out" "${arms[@]}" <<'EOF'
import json, re, sys
out, arms = sys.argv[1], sys.argv[2:]
print("| run | final test accuracy (flip TTA) | change |")
print("|---|---:|---:|")
base = None
for arm in arms:
    name = arm.split("|")[0]
    tag = re.sub(r"[^a-zA-Z0-9\n]", "-", name)
    accuracy = json.load(open(f"{out}/{tag}.json"))["test_accuracy"]
    base = accuracy if base is None else base
    print(f"| {name} | {100 * accuracy:.2f}% | {100 * (accuracy - base):+.2f} |")
plain = json.load(open(f"{out}/recipe.plain-eval.json"))["accuracy"]
print(f"| recipe, evaluated without flip TTA | {100 * plain:.2f}% | {100 * (plain - base):+.2f} |")
EOF
