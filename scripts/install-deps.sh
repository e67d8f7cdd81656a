#!/usr/bin/env bash
# Installs every build and test dependency of tessera from Debian 12 packages.
# Idempotent: safe to run again; apt-get skips what is already installed.
# nvcc (CUDA 13) is expected in /usr/local/cuda when present; it is not a Debian package here.
#   install-deps.sh               everything: build, tests, fuzzing, formatting, the Python venv
#   install-deps.sh --build-only  what building tesserad and tessera needs (the container recipes)
set -euo pipefail

build_only=false
case "${1:-}" in
  --build-only) build_only=true ;;
  "") ;;
  *) echo "install-deps: unknown option $1 (expected --build-only or nothing)" >&2; exit 2 ;;
esac

# What building tesserad and tessera needs; the container recipes (deploy/Containerfile*) install
# exactly these, and tests/deploy checks that they name no others.
build_packages=(
  build-essential cmake ninja-build pkg-config
  # RPC and base libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev
  # the HTTP port (/metrics, /healthz, /readyz): Boost.Beast and Boost.Asio, header-only, an
  # event-driven server that slow or idle clients cannot block
  libboost-dev
  # JSON and command-line flags
  nlohmann-json3-dev libcli11-dev
  # tesserad's log (timestamps, levels, the per-request line)
  libspdlog-dev
  # Unicode categories and NFC for the tokenizer
  libutf8proc-dev
  # the tokenizer's Split, Replace pre-tokenizer/normalizer/decoder regexes other than the three
  # hand-coded ones: Oniguruma, the regex engine Hugging Face tokenizers itself runs
  libonig-dev
  # quantization_config's "re:" module patterns, matched in linear time (no ReDoS)
  libre2-dev
  # SHA-256 content digests of LoRA adapters (libcrypto's EVP API)
  libssl-dev
)

# Development, tests and CI on top of the build.
dev_packages=(
  git ccache clang-format
  # tests and benchmarks; the daemon's end-to-end test drives it with curl, openssl (a TLS
  # certificate) and Python grpcio (a client stack nobody here wrote)
  curl openssl python3 python3-grpcio python3-protobuf
  # the OpenAI SDK test's virtualenv (below): Debian 12 packages no `openai`
  python3-venv python3-pip
  libgtest-dev libgmock-dev libbenchmark-dev
  # bench/slo_sim --plot draws its PNG with gnuplot
  gnuplot-nox
  # the libFuzzer build (scripts/fuzz.sh): clang, its sanitizer and libFuzzer runtimes
  # (compiler-rt), the OpenMP runtime that clang needs to configure the tree, and
  # llvm-symbolizer for readable crash reports
  clang-14 libclang-rt-14-dev libomp-14-dev llvm-14
)

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi

# The official OpenAI Python SDK for tests/server/http/openai_sdk_test.py, in a virtualenv outside
# git (TESSERA_PYTHON_VENV, default ~/.cache/tessera/venv, where CMake looks). Runs after apt.
# The deployment check (tests/deploy) uses the same virtualenv: Helm's own template engine
# (helm-python-sdk bundles Helm's Go SDK as a library: Debian 12 has no Helm), the Kubernetes
# OpenAPI schemas with a strict mode (kubernetes-validate) and yamllint.
python_tools=(openai helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 yamllint==1.38.0)
python_imports="import openai, helm_python, kubernetes_validate, yamllint"
install_python_tools() {
  local venv=${TESSERA_PYTHON_VENV:-$HOME/.cache/tessera/venv}
  if "$venv/bin/python" -c "$python_imports" 2>/dev/null; then return; fi
  echo "install-deps: ${python_tools[*]} into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "${python_tools[@]}"
}

packages=("${build_packages[@]}")
if ! $build_only; then packages+=("${dev_packages[@]}"); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  $build_only || install_python_tools
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
$build_only || install_python_tools
