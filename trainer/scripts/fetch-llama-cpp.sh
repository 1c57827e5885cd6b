#!/usr/bin/env bash
# llama.cpp for the GGUF export tests: npm's node-llama-cpp with only its prebuilt Linux x64 libraries (~85 MB), installed
# once into the cache (~/.cache/lora-workbench/llama-cpp-VERSION) and named in OUT_DIR/home for the tests.
# Usage: fetch-llama-cpp.sh OUT_DIR   (Maven runs it in generate-test-resources; skip with -Dllamacpp.skip=true)
set -euo pipefail
out=${1:?usage: fetch-llama-cpp.sh OUT_DIR}
version=3.22.1
home=${LORA_WORKBENCH_CACHE:-$HOME/.cache/lora-workbench}/llama-cpp-$version
mkdir -p "$out"
if [[ $(uname -sm) != "Linux x86_64" ]]; then
  echo "note: llama.cpp check skipped: node-llama-cpp's x64 libraries are fetched for Linux x86_64 only (this is $(uname -sm))" >&2
  rm -f "$out/home"; exit 0
fi
if [[ ! -f $home/node_modules/@node-llama-cpp/linux-x64/package.json ]]; then
  command -v npm >/dev/null || { echo "error: npm is needed to fetch llama.cpp (node-llama-cpp) for the GGUF tests; install Node.js/npm or build with -Dllamacpp.skip=true (those tests are then skipped)" >&2; exit 1; }
  tmp=$(mktemp -d "${home}.XXXXXX")
  echo '{"name":"workbench-llama-cpp","private":true}' > "$tmp/package.json"
  # --ignore-scripts: no build from source, no download at install time; --omit=optional: not every platform's binaries
  if ! (cd "$tmp" && npm install --silent --omit=optional --ignore-scripts --no-audit --no-fund "node-llama-cpp@$version" "@node-llama-cpp/linux-x64@$version" >/dev/null); then
    rm -rf "$tmp"
    echo "error: 'npm install node-llama-cpp@$version' failed; the npm registry must be reachable once (then the cache is used), or build with -Dllamacpp.skip=true" >&2
    exit 1
  fi
  rm -rf "$home" && mv "$tmp" "$home"
  echo "llama.cpp for the GGUF tests: node-llama-cpp@$version in $home ($(du -sh "$home" | cut -f1))"
fi
echo "$home" > "$out/home"
