#!/usr/bin/env bash
# Set up the GPU path for LoRA Workbench on a DGX Spark (GB10, aarch64, CUDA 13) or an x86_64 Linux box with an
# NVIDIA GPU. DJL publishes no PyTorch native jar for the Spark, so this builds DJL's PyTorch JNI (libdjl_torch.so)
# from the DJL release source against the libtorch of the local PyTorch install (pip wheel or NGC container),
# adds BFLOAT16 to its dtype mapping, installs it where DJL looks for it, and writes .workbench/engine.env
# (PYTORCH_LIBRARY_PATH / PYTORCH_VERSION / PYTORCH_FLAVOR), which ./workbench sources.
# --cpu does the same for a CPU-only torch (no GPU needed): bf16 compute on the CPU, or a libtorch other than the
# bundled one; it is also how this script's build path is tested on machines without a GPU.
# Undo: rm .workbench/engine.env   (the workbench then uses its bundled CPU libtorch again)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
py=python3
# The JNI file name carries the DJL version (<djl>-libdjl_torch.so), so it must match the DJL the workbench uses.
djl="$(sed -n 's:.*<djl.version>\(.*\)</djl.version>.*:\1:p' "$repo/pom.xml" 2>/dev/null | head -n1)"
djl="${djl:-0.36.0}"
pom_djl="$djl"
prefix="${HOME}/.cache/lora-workbench/djl-jni"
smoke=1
cpu=0
torch_cmake=""

usage() {
  cat <<EOF
usage: trainer/scripts/setup-spark.sh [--python PY] [--cpu] [--torch-cmake DIR] [--djl-version V] [--prefix DIR] [--no-smoke]
  --python PY        Python whose PyTorch to build against (default: python3): a CUDA build, or a CPU-only one with --cpu
  --cpu              build for the CPU only (no GPU, no CUDA toolkit), against a CPU-only torch: bf16 on the CPU
  --torch-cmake DIR  folder holding Torch/TorchConfig.cmake when torch.utils.cmake_prefix_path has none
                     (Debian's python3-torch: /usr/lib/x86_64-linux-gnu/cmake)
  --djl-version V    DJL release whose JNI source is built (default: $pom_djl, from pom.xml)
  --prefix DIR       where DJL is cloned and built (default: \$HOME/.cache/lora-workbench/djl-jni)
  --no-smoke         skip the 10-step smoke training run at the end
EOF
}
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }
need_arg() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value; see --help"; fi; }

while [ $# -gt 0 ]; do
  case "$1" in
    --python) need_arg "$@"; py="$2"; shift 2 ;;
    --djl-version) need_arg "$@"; djl="$2"; shift 2 ;;
    --prefix) need_arg "$@"; prefix="$2"; shift 2 ;;
    --no-smoke) smoke=0; shift ;;
    --cpu) cpu=1; shift ;;
    --torch-cmake) need_arg "$@"; [ -d "$2" ] || die "--torch-cmake $2: no such folder"; torch_cmake="$(cd "$2" && pwd)"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option '$1'" ;;
  esac
done
[ "$djl" = "$pom_djl" ] || echo "warning: --djl-version $djl differs from pom.xml ($pom_djl); DJL will not pick this JNI up" >&2

step "Checking the machine (Linux$([ "$cpu" = 1 ] && echo ', CPU only' || echo ', NVIDIA GPU'))"
[ "$(uname -s)" = Linux ] || die "this script is for Linux (DGX Spark or x86_64 + NVIDIA GPU); on other systems use the CPU path (./workbench as is)"
arch="$(uname -m)"
case "$arch" in aarch64|x86_64) ;; *) die "unsupported CPU architecture '$arch'; only aarch64 (DGX Spark) and x86_64 are supported" ;; esac
if [ "$cpu" = 0 ]; then
  command -v nvidia-smi >/dev/null 2>&1 ||
    die "no NVIDIA GPU visible (nvidia-smi not found); install the NVIDIA driver (DGX OS ships it), or in a container start it with --gpus all. Without a GPU nothing needs setting up: ./workbench runs on the CPU (--cpu builds the engine for the CPU, e.g. for bf16 there)"
  gpus="$(nvidia-smi -L 2>/dev/null || true)"
  [ -n "$gpus" ] || die "nvidia-smi lists no GPU; check the driver with 'nvidia-smi' (in a container: --gpus all)"
  echo "$gpus"
fi

step "Checking PyTorch in $py"
command -v "$py" >/dev/null 2>&1 || die "'$py' not found; install Python 3 (apt-get install -y python3 python3-pip) or pass --python /path/to/python"
if ! "$py" -c 'import torch' 2>/dev/null; then
  [ "$cpu" = 0 ] || die "'$py' cannot import torch; install a CPU wheel ('$py -m pip install torch --index-url https://download.pytorch.org/whl/cpu') or Debian's python3-torch + libtorch-dev (then --python /usr/bin/python3), or pass --python /path/to/python"
  die "'$py' cannot import torch; install a CUDA wheel, e.g. '$py -m pip install torch --index-url https://download.pytorch.org/whl/cu130' (Spark), or run inside the NGC PyTorch container"
fi
# One probe, printed as shell assignments: version, CUDA, C++ ABI, cmake prefix and library dir of this torch.
probe="$("$py" - <<'PY'
import os, shlex, torch, torch.utils
ok = torch.version.cuda is not None and torch.cuda.is_available()
vals = {
    "TORCH_VERSION": torch.__version__, "TORCH_CUDA": torch.version.cuda or "", "TORCH_CUDA_OK": int(ok),
    "TORCH_CAP": "%d.%d" % torch.cuda.get_device_capability(0) if ok else "",
    "TORCH_GPU": torch.cuda.get_device_name(0) if ok else "",
    "TORCH_CXX11_ABI": int(torch._C._GLIBCXX_USE_CXX11_ABI), "TORCH_CMAKE": torch.utils.cmake_prefix_path,
    "TORCH_LIB": os.path.join(os.path.dirname(torch.__file__), "lib"),
}
for k, v in vals.items():
    print("%s=%s" % (k, shlex.quote(str(v))))
PY
)" || die "probing torch with '$py' failed (see above)"
eval "$probe"
if [ "$cpu" = 1 ]; then
  echo "torch $TORCH_VERSION, CPU build, cxx11 ABI $TORCH_CXX11_ABI"
  # A CUDA torch cannot be built --cpu: its libtorch.so links libtorch_cuda and its cmake config wants the CUDA toolkit.
  [ -z "$TORCH_CUDA" ] || die "torch $TORCH_VERSION is a CUDA build; --cpu needs a CPU-only torch ('$py -m pip install torch --index-url https://download.pytorch.org/whl/cpu' in its own venv, or Debian's python3-torch), or drop --cpu on a machine with an NVIDIA GPU"
else
  echo "torch $TORCH_VERSION, CUDA ${TORCH_CUDA:-none}, cxx11 ABI $TORCH_CXX11_ABI, GPU ${TORCH_GPU:-none} (sm ${TORCH_CAP:-?})"
fi
if [ "$cpu" = 0 ]; then
  [ -n "$TORCH_CUDA" ] || die "torch $TORCH_VERSION is a CPU-only build; install a CUDA wheel (cu130 on the Spark: --index-url https://download.pytorch.org/whl/cu130), or pass --cpu to build for the CPU"
  [ "$TORCH_CUDA_OK" = 1 ] || die "torch cannot use the GPU (torch.cuda.is_available() is False); check the driver version against CUDA $TORCH_CUDA with nvidia-smi"
fi
[ -f "$TORCH_LIB/libtorch.so" ] || die "no libtorch.so in $TORCH_LIB; reinstall torch"
# torch.utils.cmake_prefix_path is where find_package(Torch) looks; Debian's python3-torch points it at nothing.
[ -z "$torch_cmake" ] || TORCH_CMAKE="$torch_cmake"
[ -f "$TORCH_CMAKE/Torch/TorchConfig.cmake" ] ||
  die "no Torch/TorchConfig.cmake under '$TORCH_CMAKE' (torch.utils.cmake_prefix_path of $py); find it with 'find / -name TorchConfig.cmake 2>/dev/null' and pass the folder above Torch/ as --torch-cmake DIR"
# DJL names: PYTORCH_VERSION is the plain x.y.z (2.9.0+cu130, 2.9.0a0+abc.nv25.09 -> 2.9.0); flavor cu<major><minor> or cpu.
pt_version="$(printf '%s' "$TORCH_VERSION" | sed -n 's/^\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')"
[ -n "$pt_version" ] || die "cannot read a x.y.z version from torch '$TORCH_VERSION'"
# The headers compiled against must be those of the libtorch loaded at run time ($TORCH_LIB), or the ABI breaks.
cmake_version="$(sed -n 's/^set(PACKAGE_VERSION "\([^"]*\)").*/\1/p' "$TORCH_CMAKE/Torch/TorchConfigVersion.cmake" 2>/dev/null | head -n1)"
[ -z "$cmake_version" ] || [ "${cmake_version%.*}" = "${pt_version%.*}" ] ||
  die "$TORCH_CMAKE/Torch is torch $cmake_version but $py has torch $TORCH_VERSION; point --torch-cmake at the cmake files of that same torch"
if [ "$cpu" = 1 ]; then flavor=cpu; else flavor="cu${TORCH_CUDA//./}"; fi

step "Checking build tools ($([ "$cpu" = 0 ] && echo 'CUDA toolkit, ')cmake, g++, make, git, JDK 17+, maven)"
apt_hint="sudo apt-get install -y cmake g++ make git openjdk-17-jdk-headless maven"
missing=""
for t in cmake g++ make git java javac; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
[ -z "$missing" ] || die "missing:$missing; install them with: $apt_hint"
[ -f "$repo/trainer/target/workbench.jar" ] || command -v mvn >/dev/null 2>&1 ||
  die "maven is needed to build the workbench CLI the first time; install it with: $apt_hint"
cmake_v="$(cmake --version | sed -n '1s/[^0-9]*\([0-9][0-9.]*\).*/\1/p')"
[ "$(printf '%s\n' 3.18 "$cmake_v" | sort -V | head -n1)" = 3.18 ] || die "cmake $cmake_v is too old (need 3.18+); '$py -m pip install cmake' gives a newer one"
javac_major="$(javac -version 2>&1 | sed -n 's/^javac \([0-9]*\).*/\1/p')"
[ "${javac_major:-0}" -ge 17 ] || die "need a JDK 17 or newer (javac says '$(javac -version 2>&1)'); $apt_hint"
export JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"
nvcc_v=none cuda_home=""
if [ "$cpu" = 0 ]; then
  # torch's cmake config (Caffe2/public/cuda.cmake) must find a CUDA toolkit of the same major version as torch.
  # Order: CUDA_HOME/CUDA_PATH if set, then nvcc on PATH, then /usr/local/cuda (where DGX OS puts it).
  nvcc="${CUDA_HOME:-${CUDA_PATH:-}}"; nvcc="${nvcc:+$nvcc/bin/nvcc}"
  [ -n "$nvcc" ] || nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  cuda_home="$(dirname "$(dirname "$nvcc")")"
  [ -x "$nvcc" ] || die "no CUDA toolkit (nvcc) found in PATH or $cuda_home; install CUDA $TORCH_CUDA (DGX OS ships it in /usr/local/cuda; elsewhere from NVIDIA's apt repo: sudo apt-get install -y cuda-toolkit-${TORCH_CUDA//./-}) or set CUDA_HOME"
  cuda_home="$(dirname "$(dirname "$(readlink -f "$nvcc")")")"
  nvcc_v="$("$nvcc" --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')"
  [ "${nvcc_v%%.*}" = "${TORCH_CUDA%%.*}" ] || die "CUDA toolkit $nvcc_v ($nvcc) does not match torch's CUDA $TORCH_CUDA; install cuda-toolkit-${TORCH_CUDA//./-} or point CUDA_HOME at a matching one"
fi
echo "cmake $cmake_v, javac $javac_major (JAVA_HOME=$JAVA_HOME), nvcc $nvcc_v${cuda_home:+ ($cuda_home)}"

mkdir -p "$prefix" && prefix="$(cd "$prefix" && pwd)"   # absolute: later steps cd into the build dir
src="$prefix/djl-v$djl"
step "Getting DJL v$djl source into $src"
if [ -d "$src/.git" ]; then
  [ "$(git -C "$src" describe --tags --exact-match HEAD 2>/dev/null || true)" = "v$djl" ] ||
    die "$src is not a DJL v$djl checkout; delete it and rerun"
  echo "reusing the existing clone"
else
  git clone --quiet --depth 1 --branch "v$djl" https://github.com/deepjavalibrary/djl.git "$src" ||
    die "could not clone DJL v$djl from github.com (no network?); connect and rerun, or put a DJL v$djl clone at $src"
fi
native="$src/engines/pytorch/pytorch-native"
utils_h="$native/src/main/native/djl_pytorch_utils.h"
[ -f "$utils_h" ] || die "$utils_h missing; the DJL layout changed: this script knows DJL 0.36.0"

step "Applying the bf16 patch to $utils_h"
# The stock type switch has no BFloat16 case: Java sends DataType.BFLOAT16.ordinal() == 11 and the default branch
# runs a bare 'throw;', i.e. std::terminate, which aborts the JVM. Add 11 <-> at::kBFloat16 both ways and make the
# default throw a real exception (API_END turns it into a Java EngineException). Each anchor must match once.
git -C "$src" checkout --quiet -- "${utils_h#"$src"/}"   # start from pristine source on reruns
"$py" - "$utils_h" <<'PY' || die "the bf16 patch did not apply (see above); DJL's source differs from v0.36.0"
import sys
path = sys.argv[1]
text = open(path).read()
edits = [
    ("  } else if (torch::kComplexFloat == type) {\n    return 8;\n",
     "  } else if (torch::kComplexFloat == type) {\n    return 8;\n"
     "  } else if (torch::kBFloat16 == type) {  // lora-workbench: DataType.BFLOAT16.ordinal()\n    return 11;\n"),
    ("    case 8:\n      return torch::kComplexFloat;\n",
     "    case 8:\n      return torch::kComplexFloat;\n"
     "    case 11:  // lora-workbench: DataType.BFLOAT16\n      return torch::kBFloat16;\n"),
    ("      // TODO improve the error handling\n      throw;\n",
     "      // lora-workbench: a bare 'throw;' here terminates the JVM\n"
     "      throw std::invalid_argument(\"Unsupported DJL DataType ordinal: \" + std::to_string(dtype));\n"),
]
for old, new in edits:
    n = text.count(old)
    if n != 1:
        sys.exit("anchor found %d times, expected once:\n%s" % (n, old))
    text = text.replace(old, new)
open(path, "w").write(text)
PY
[ "$(grep -c 'kBFloat16' "$utils_h")" = 2 ] || die "bf16 patch check failed: expected 2 kBFloat16 lines in $utils_h"
echo "patched: BFLOAT16 (11) <-> torch::kBFloat16"

step "Building libdjl_torch.so against $TORCH_LIB ($arch, cxx11 ABI=$TORCH_CXX11_ABI, $flavor)"
# Same steps as DJL's build.sh, minus its libtorch download: JNI header from PyTorchLibrary.java, then cmake with the
# local torch's cmake prefix (TORCH_CXX_FLAGS from it set -D_GLIBCXX_USE_CXX11_ABI to match). CMakeLists.txt includes
# build/include relative to the source dir, so the build dir must be pytorch-native/build.
build="$native/build"
rm -rf "$build" && mkdir -p "$build/classes"
(cd "$build" && javac -sourcepath ../../pytorch-engine/src/main/java/ \
  ../../pytorch-engine/src/main/java/ai/djl/pytorch/jni/PyTorchLibrary.java -h include -d classes) ||
  die "javac could not generate the JNI header (see above)"
pt_define=""
case "$pt_version" in 1.13.*|2.0.*|2.1.*) pt_define=V1_13_X ;; esac   # as DJL's build.sh (1.13.1, 2.0.1, 2.1.*)
cuda_args=()
if [ "$cpu" = 0 ]; then
  export PATH="$cuda_home/bin:$PATH" CUDACXX="$cuda_home/bin/nvcc"
  export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$TORCH_CAP}"
  # USE_SYSTEM_NVTX: older torch cmake configs otherwise look for libnvToolsExt, which CUDA 12.9+ no longer ships.
  cuda_args=(-DCUDAToolkit_ROOT="$cuda_home" -DCUDA_TOOLKIT_ROOT_DIR="$cuda_home" -DUSE_SYSTEM_NVTX=ON -DUSE_CUDA=1)
fi
cmake -S "$native" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_CMAKE" \
  ${cuda_args[@]+"${cuda_args[@]}"} -DPT_VERSION="$pt_define" ||
  die "cmake configure failed (see above); usually a CUDA toolkit that torch's cmake config cannot use: check CUDA_HOME"
cmake --build "$build" -j "$(nproc)" || die "compiling the JNI failed (see above); the DJL v$djl source may not build against torch $TORCH_VERSION"
# As DJL's build.sh does: relink without the toolkit's libcudart/libnvrtc, so at run time the JNI shares the CUDA
# runtime that torch itself loads instead of depending on /usr/local/cuda being on the library path.
link="$build/CMakeFiles/djl_torch.dir/link.txt"
if [ -f "$link" ] && grep -Eq '[^ ]*/lib(cudart|nvrtc)\.so' "$link"; then
  sed -i -E 's#[^ ]*/lib(cudart|nvrtc)\.so[^ ]*##g' "$link"
  (cd "$build" && rm -f libdjl_torch.so && sh "$link") || die "relinking libdjl_torch.so failed (see above)"
fi
[ -f "$build/libdjl_torch.so" ] || die "the build produced no $build/libdjl_torch.so"
unresolved="$(LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$build/libdjl_torch.so" | grep 'not found' || true)"
[ -z "$unresolved" ] || die "libdjl_torch.so has unresolved libraries:
$unresolved"

step "Installing the JNI where DJL looks for it"
# DJL 0.36.0 LibUtils.findJniLibrary(), with PYTORCH_LIBRARY_PATH set, looks in <torch lib>/ first, then in
# <engine cache>/pytorch/<PYTORCH_VERSION>-<PYTORCH_FLAVOR>-<os>-<arch>/<djl>-libdjl_torch.so, and only then
# downloads (impossible offline). Use the cache dir: site-packages stays untouched.
cache="${ENGINE_CACHE_DIR:-${DJL_CACHE_DIR:-$HOME/.djl.ai}}"
jni="$cache/pytorch/$pt_version-$flavor-linux-$arch/$djl-libdjl_torch.so"
mkdir -p "$(dirname "$jni")"
[ ! -f "$jni" ] || echo "replacing $jni"
install -m 0755 "$build/libdjl_torch.so" "$jni"
echo "installed $jni"

env_file="$repo/.workbench/engine.env"
step "Writing $env_file"
mkdir -p "$(dirname "$env_file")"
{
  echo "# Written by trainer/scripts/setup-spark.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); sourced by ./workbench."
  echo "# torch $TORCH_VERSION (${TORCH_CUDA:+CUDA $TORCH_CUDA, }flavor $flavor) via $py; JNI: $jni"
  echo "# Delete this file to go back to the bundled CPU libtorch."
  printf 'export PYTORCH_LIBRARY_PATH=%q\n' "$TORCH_LIB"
  printf 'export PYTORCH_VERSION=%q\n' "$pt_version"
  printf 'export PYTORCH_FLAVOR=%q\n' "$flavor"
  # PYTORCH_PRECXX11 is only read when DJL downloads libtorch, which it never does with PYTORCH_LIBRARY_PATH set.
  if [ -n "${ENGINE_CACHE_DIR:-}${DJL_CACHE_DIR:-}" ]; then printf 'export ENGINE_CACHE_DIR=%q\n' "$cache"; fi
  # shellcheck disable=SC2016  # ${LD_LIBRARY_PATH...} is meant to expand when the file is sourced
  printf 'export LD_LIBRARY_PATH=%q${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n' "$TORCH_LIB"
} > "$env_file.tmp"
mv "$env_file.tmp" "$env_file"
cat "$env_file"

step "./workbench doctor"
(cd "$repo" && ./workbench doctor) || die "doctor reported a problem (see above); fix it, or delete $env_file to go back to CPU"

if [ "$cpu" = 1 ]; then device=cpu where="the CPU"; else device=cuda where="the GPU"; fi
if [ "$smoke" = 1 ]; then
  step "Smoke test: 10 training steps of recipes/quickstart.yaml on $where"
  rm -rf "$repo/runs/spark-smoke" "$repo/runs/spark-smoke-qlora-bf16"   # a rerun of this script replaces them
  (cd "$repo" && ./workbench train recipes/quickstart.yaml --set training.max_steps=10 --set device=$device \
    --set output.name=spark-smoke) || die "the smoke training run failed (see above); the run is in runs/spark-smoke"
  step "Smoke test: 10 QLoRA steps (nf4 base, bf16 compute: the flagship's path) on $where"
  (cd "$repo" && ./workbench train recipes/quickstart-qlora-nf4.yaml --set training.max_steps=10 --set device=$device \
    --set quantization.compute_dtype=bf16 --set output.name=spark-smoke-qlora-bf16) ||
    die "the QLoRA bf16 smoke run failed (see above); the run is in runs/spark-smoke-qlora-bf16"
fi

if [ "$cpu" = 1 ]; then what="CPU"; else what="$TORCH_GPU"; fi
printf '\nDone. The workbench now runs on %s (%s, torch %s, %s).\n' "$where" "$what" "$TORCH_VERSION" "$flavor"
printf 'Undo: rm %s   (optionally also %s and %s)\n' "$env_file" "$jni" "$prefix"
