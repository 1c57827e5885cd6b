#!/usr/bin/env bash
# Builds crosscheck/ (git-ignored, ~45 MB): what this workbench produced, for check.py to compare against the Python
# reference stack (transformers, PEFT, TensorBoard) on a machine that has it, e.g. the GPU machines (no JDK there):
#   model/           the tiny-qwen2 checkpoint                 run/       a 40-step LoRA run (adapter, events)
#   merged/          `export merged` of that run (fp32)        logits/    our logits: base, base + adapter, merged
#   tok/<name>/      real tokenizer files + ours.jsonl: `data show --json` of a multi-turn file through that template
# Usage: trainer/scripts/crosscheck/prepare.sh   then, where transformers is:  python3 trainer/scripts/crosscheck/check.py crosscheck
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
out="$repo/crosscheck"
wb="$repo/workbench"
rm -rf "$out" && mkdir -p "$out/logits" "$out/tok"
cd "$repo"

# the tokenizers come from the datasets build (npm), the model from the preset
[ -f datasets/target/tokenizers/qwen3/tokenizer.json ] || mvn -B -q -pl datasets generate-test-resources
"$wb" init-model --preset tiny-qwen2 --out "$out/model" --seed 7

ids="1,17,250,999,1500,42,7,1903,3,64,128,5"
recipe="$out/recipe.yaml"
cat > "$recipe" <<YAML
model: {path: model}
lora: {r: 8, alpha: 16, dropout: 0.0, target_modules: all-linear, use_rslora: true}
dataset: {path: $repo/datasets/samples/project-qa.jsonl, max_seq_len: 256, eval_fraction: 0.1}
training: {max_steps: 40, micro_batch_size: 4, lr: 1.0e-2, eval_every: 20, log_every: 2}
output: {runs_dir: ., name: run}
YAML
"$wb" train "$recipe" >/dev/null
"$wb" export merged "$out/run" --out "$out/merged" --dtype fp32 >/dev/null
"$wb" logits --model "$out/model" --ids "$ids" --out "$out/logits/base.safetensors" >/dev/null
"$wb" logits --model "$out/model" --adapter "$out/run" --ids "$ids" --out "$out/logits/adapter.safetensors" >/dev/null
"$wb" logits --model "$out/merged" --ids "$ids" --out "$out/logits/merged.safetensors" >/dev/null
echo "$ids" > "$out/logits/ids.txt"
rm -rf "$out/run/checkpoints"

# chat templates: the model's own for three tokenizers, and DeepSeek-R1-Distill's on Qwen2.5's vocabulary
data="$repo/trainer/src/test/resources/data/multi-turn.jsonl"
cp "$data" "$out/tok/conversations.jsonl"
for name in qwen2_5 qwen3 llama3 r1; do
  dir="$out/tok/$name"
  mkdir -p "$dir"
  src=datasets/target/tokenizers/${name/r1/qwen2_5}
  cp "$src/tokenizer.json" "$src/tokenizer_config.json" "$dir/"
  template=""
  if [ "$name" = r1 ]; then
    # R1's template on Qwen2.5's vocabulary with R1's special tokens
    cp datasets/src/test/resources/templates/deepseek-r1-distill-qwen.jinja "$dir/chat_template.jinja"
    template="chat_template: chat_template.jinja"
    python3 - "$dir" <<'PY'
import json, sys
d = sys.argv[1]
# R1-Distill-Qwen's tokenizer is Qwen2.5's with DeepSeek's special tokens at 151643-151649 (as the tests build it)
names = {151643: "<｜end▁of▁sentence｜>", 151644: "<｜User｜>", 151645: "<｜Assistant｜>", 151646: "<｜begin▁of▁sentence｜>",
         151647: "<|EOT|>", 151648: "<think>", 151649: "</think>"}
t = json.load(open(d + "/tokenizer.json", encoding="utf-8"))
for a in t["added_tokens"]:
    if a["id"] in names:
        a["content"] = names[a["id"]]
        a["special"] = a["id"] in (151643, 151646)
json.dump(t, open(d + "/tokenizer.json", "w", encoding="utf-8"), ensure_ascii=False)
c = json.load(open(d + "/tokenizer_config.json", encoding="utf-8"))
c.pop("chat_template", None)
for key in ("added_tokens_decoder", "additional_special_tokens"):  # Qwen2.5's names for those ids; tokenizer.json has R1's
    c.pop(key, None)
c.update(bos_token="<｜begin▁of▁sentence｜>", eos_token="<｜end▁of▁sentence｜>", pad_token="<｜end▁of▁sentence｜>")
json.dump(c, open(d + "/tokenizer_config.json", "w", encoding="utf-8"), ensure_ascii=False, indent=1)
PY
  fi
  printf 'model: {path: %s, %s}\ndataset: {path: %s}\n' "$dir" "$template" "$data" | sed 's/, }/}/' > "$dir/recipe.yaml"
  "$wb" data show "$dir/recipe.yaml" --n 100 --json > "$dir/ours.jsonl"
done
du -sh "$out"
