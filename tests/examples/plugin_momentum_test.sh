#!/usr/bin/env bash
# The out-of-tree plugin example, end to end, as a third party would do it:
#   1. install the qflow build tree into a fresh prefix,
#   2. configure and build examples/plugin_momentum standalone against that prefix,
#   3. run the installed qflow on the example pipeline with --plugin-path <example build>,
#   4. check the table it wrote against the CSV, computed independently.
# Registered by tests/examples/CMakeLists.txt, which passes every path as --name=value. The
# scratch folder is removed when the test passes and kept (and named) when it fails.
set -euo pipefail

for arg in "$@"; do
  case "$arg" in
    --cmake=*) cmake="${arg#*=}" ;;
    --generator=*) generator="${arg#*=}" ;;
    --build-dir=*) build_dir="${arg#*=}" ;;
    --example-dir=*) example_dir="${arg#*=}" ;;
    --data=*) data="${arg#*=}" ;;
    --python=*) python="${arg#*=}" ;;
    --checker=*) checker="${arg#*=}" ;;
    --cxx=*) cxx="${arg#*=}" ;;
    --build-type=*) build_type="${arg#*=}" ;;
    --cxx-flags=*) cxx_flags="${arg#*=}" ;;
    --link-flags=*) link_flags="${arg#*=}" ;;
    --work=*) work_root="${arg#*=}" ;;
    --ubsan-suppressions=*) ubsan_supp="${arg#*=}" ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done
period=10  # not the pipeline's default (20): proves that --set reaches the plugin's parameter

mkdir -p "$work_root"
work="$(mktemp -d "$work_root/plugin_momentum.XXXXXX")"
finish() {
  local rc=$?
  if [[ $rc -eq 0 ]]; then rm -rf "$work"; else echo "FAILED (rc $rc); scratch folder kept: $work" >&2; fi
}
trap finish EXIT

step() { echo "== $*"; }
fail() { echo "error: $*" >&2; exit 1; }
# Runs a command with its output in $work/<log>, shown only when it fails.
logged() {
  local log="$work/$1"; shift
  if ! "$@" >"$log" 2>&1; then cat "$log" >&2; fail "failed: $*"; fi
}

# The plugins must come from where we say, not from the caller's environment.
unset QFLOW_PLUGIN_PATH
# In a sanitizer build, qflow runs under UBSan: keep the caller's options, add our suppressions
# (a known report from inside oneTBB's headers, see the file) unless the caller brought some.
if [[ -n "${ubsan_supp:-}" && "${UBSAN_OPTIONS:-}" != *suppressions=* ]]; then
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}suppressions=$ubsan_supp"
fi

step "1. cmake --install $build_dir --prefix <fresh prefix>"
prefix="$work/prefix"
logged install.log "$cmake" --install "$build_dir" --prefix "$prefix"
[[ -x "$prefix/bin/qflow" ]] || fail "the install has no executable bin/qflow"
compgen -G "$prefix/lib/qflow/plugins/*.so" >/dev/null || fail "the install has no lib/qflow/plugins/*.so"
for f in include/qflow/sdk.hpp include/qflow/abi.h lib/cmake/qflow/qflowConfig.cmake \
         lib/cmake/qflow/qflowConfigVersion.cmake lib/cmake/qflow/qflowTargets.cmake lib/cmake/qflow/qflowPlugin.cmake; do
  [[ -f "$prefix/$f" ]] || fail "the install has no $f"
done
qflow="$prefix/bin/qflow"

step "2. build $example_dir against the installed SDK"
ex_build="$work/example-build"
logged configure.log "$cmake" -S "$example_dir" -B "$ex_build" -G "$generator" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE="$build_type" \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_MODULE_LINKER_FLAGS="$link_flags" \
  -DCMAKE_COMPILE_WARNING_AS_ERROR=ON
found="$(sed -n 's/^qflow_DIR:PATH=//p' "$ex_build/CMakeCache.txt")"
[[ "$found" == "$prefix/lib/cmake/qflow" ]] || fail "find_package(qflow) found '$found', not the installed package"
logged build.log "$cmake" --build "$ex_build"
plugin="$ex_build/libqflow_momentum.so"
[[ -f "$plugin" ]] || fail "the example build did not produce $plugin"
if [[ "$cxx_flags" == *-fsanitize=address* ]]; then
  nm -D --undefined-only "$plugin" | grep __asan_ >/dev/null || fail "$plugin is not instrumented by ASan"
fi

step "3. run the installed qflow with --plugin-path $ex_build"
"$qflow" nodes >"$work/nodes-builtin.txt"
grep -q '^source.csv_bars' "$work/nodes-builtin.txt" || fail "the installed qflow does not find its own plugins"
! grep -q 'example.momentum' "$work/nodes-builtin.txt" || fail "example.momentum is listed without --plugin-path"
if grep '^  library: ' "$work/nodes-builtin.txt" | grep -vF "library: $prefix/" >&2; then
  fail "the installed qflow loaded the libraries above from outside its prefix $prefix"
fi
"$qflow" nodes --plugin-path "$ex_build" >"$work/nodes.txt"
grep -A1 '^example\.momentum  ' "$work/nodes.txt" | grep -F "library: $plugin" >/dev/null ||
  { cat "$work/nodes.txt" >&2; fail "qflow nodes --plugin-path $ex_build does not list example.momentum from $plugin"; }

logged install-example.log "$cmake" --install "$ex_build" --prefix "$work/example-prefix"
QFLOW_PLUGIN_PATH="$work/example-prefix/lib/qflow/plugins" "$qflow" nodes >"$work/nodes-env.txt"
grep -q '^example\.momentum  ' "$work/nodes-env.txt" || fail "QFLOW_PLUGIN_PATH=<installed example> does not give example.momentum"

out="$work/out"
run=("$example_dir/momentum.yaml" --plugin-path "$ex_build" --set "out=$out" --set "period=$period")
(cd "$work" && "$qflow" validate "${run[@]}")
(cd "$work" && "$qflow" run "${run[@]}" --no-progress)
[[ -f "$out/table.csv" ]] || fail "the run wrote no $out/table.csv"

step "4. check $out/table.csv against $data (period $period)"
"$python" "$checker" "$data" "$out/table.csv" "$period"
echo "PASS"
