#!/usr/bin/env bash
# Installs every Debian and npm package the build, the tests and the demo need.
#
# Idempotent: it asks dpkg and node_modules what is already present and does
# nothing (no apt-get update, no npm call) when everything is there. Works as
# root and, for a normal user, through sudo.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Build toolchain and libraries. Keep this list in sync with docs/building.md.
debs=(
  build-essential cmake ninja-build pkg-config python3 python3-numpy
  llvm-19-dev llvm-19-tools libmlir-19-dev mlir-19-tools
  protobuf-compiler libprotobuf-dev
  libcli11-dev nlohmann-json3-dev libpcre2-dev libxxhash-dev libsodium-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev
  # steer-serve: the HTTP server (docs/serving.md says why this library).
  libcpp-httplib-dev
  clang clang-format libclang-rt-dev
  # The embedded model: WordNet for the corpus, torch (with a fast BLAS) for
  # training and for the check that the trainer and the runtime agree.
  wordnet-base python3-torch libopenblas0-pthread
)
# node and npm: the tokenizer's reference (npm tiktoken) runs under node. A
# machine that already has node (e.g. from NodeSource) keeps it.
command -v node >/dev/null 2>&1 || debs+=(nodejs)
command -v npm >/dev/null 2>&1 || debs+=(npm)

missing=()
for p in "${debs[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "setup: error: not root and no sudo; install as root: apt-get install ${missing[*]}" >&2
      exit 1
    }
    sudo=(sudo)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages, pinned in package.json / package-lock.json at the top level.
if [[ -f "$here/package.json" ]]; then
  stamp="$here/node_modules/.package-lock.json"
  if [[ ! -f "$stamp" || "$here/package-lock.json" -nt "$stamp" ]]; then
    echo "setup: installing npm packages"
    (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
