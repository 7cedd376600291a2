#!/usr/bin/env bash
# The two quick-start commands of README.md.
#
#   tools/quickstart.sh demo   install what is missing, build, run pipelines/sma_cross.yaml
#   tools/quickstart.sh test   install what is missing (Chromium too, for the dashboard's test), build,
#                              run the whole test suite: once in a Release build and once under
#                              AddressSanitizer + UBSan
#
# Debian 12 packages only (see ../shared/DEPENDENCIES.md). Uses sudo when not run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
if [[ "$mode" != demo && "$mode" != test ]]; then
  echo "usage: $0 demo|test" >&2
  exit 1
fi

packages=(build-essential cmake pkg-config
  liblua5.4-dev libtbb-dev libyaml-cpp-dev libboost-dev librocksdb-dev libwebsockets-dev
  libspdlog-dev libfmt-dev catch2 libbenchmark-dev nlohmann-json3-dev libcli11-dev)
# The dashboard's test opens the page in headless Chromium.
if [[ "$mode" == test ]]; then packages+=(chromium); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The dashboard's charting library comes from the npm registry at build time (Debian's npm, unless
# an npm is already on the PATH, as with NodeSource's nodejs).
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "quickstart: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
build() {  # build DIR [cmake options...]
  local dir=$1
  shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
}

if [[ "$mode" == demo ]]; then
  build build -DCMAKE_BUILD_TYPE=Release
  echo
  ./build/bin/qflow run pipelines/sma_cross.yaml
  echo
  echo "Open pipelines/sma_cross.yaml and scripts/strategies/sma_cross.lua, change something, and run"
  echo "  ./build/bin/qflow run pipelines/sma_cross.yaml"
  echo "again: nothing needs recompiling. Outputs are in runs/sma_cross/."
  exit 0
fi

build build -DCMAKE_BUILD_TYPE=Release
ctest --test-dir build --output-on-failure -j"$jobs"
build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQFLOW_SANITIZE=ON -DQFLOW_BUILD_BENCHMARKS=OFF
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"
