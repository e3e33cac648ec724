#!/usr/bin/env bash
# The whole GPU check of issue 7 on a machine with a card, in phases small enough for one remote
# call each (a call may last 10 minutes; the machine keeps build-gpu/ between calls while it stays
# up). Needs cmake, nvcc and a C++ compiler; Ninja when on PATH; python3 with torch for the
# baseline. No Node.js, no network.
#
#   scripts/gpu-check.sh PHASE...       phases run in the order given, e.g. `build test`, `bench`,
#                                       `baseline table`; `all` = build test bench baseline table
#
#   build     cmake -S native -B build-gpu (Release, CUDA archs $CUDA_ARCHS, default 90), builds
#             test_gpu and bench_gpu
#   test      build-gpu/tests/test_gpu [$TEST_FILTER]                       -> $OUT/test_gpu.log
#   bench     build-gpu/tests/bench_gpu [$BENCH_ARGS]                       -> $OUT/tunesmith.json
#             (rows already measured by this very build in an earlier call are kept: --resume; rows
#             that do not fit in this call's time are "skipped" — run `bench` again to finish them;
#             BENCH_FRESH=1 starts over)
#   baseline  $PYTHON bench/gpu/pytorch_baseline.py [$BASELINE_ARGS]       -> $OUT/pytorch.json
#   table     bench/gpu/make_table.py                        -> $OUT/gpu.md, $OUT/gpu-<card>.json
#
# Every call writes $OUT/env.txt (nvidia-smi, nvcc --version, ...) and appends each phase's output
# to $OUT/gpu-check.log. Results persist in build-gpu/results/ so later phases (in later calls)
# find them. OUT defaults to ./gpu-out.
#
# Environment: OUT, CUDA_ARCHS (90), PYTHON (/opt/torch/.venv/bin/python3 if present, else
# python3), TUNESMITH_COMMIT (else git rev-parse), TEST_FILTER, BENCH_ARGS, BASELINE_ARGS,
# BENCH_FRESH, ROW_TIMEOUT_S (300), CALL_LIMIT_S (580: the seconds one call may take; bench and
# baseline stop starting rows when it would be passed), JOBS (nproc).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

OUT=${OUT:-$ROOT/gpu-out}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUILD=$ROOT/build-gpu
RESULTS=$BUILD/results
LOG=$OUT/gpu-check.log
CUDA_ARCHS=${CUDA_ARCHS:-90}
CALL_LIMIT_S=${CALL_LIMIT_S:-580}
ROW_TIMEOUT_S=${ROW_TIMEOUT_S:-300}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
NO_DEVICE=3  # bench_gpu's exit code when there is no usable CUDA device

if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x /opt/torch/.venv/bin/python3 ]]; then PYTHON=/opt/torch/.venv/bin/python3; else PYTHON=python3; fi
fi

say() { printf '\n=== gpu-check: %s\n' "$*" | tee -a "$LOG"; }
fail() {
  printf 'gpu-check: ERROR: %s\n' "$*" | tee -a "$LOG" >&2
  exit 1
}

usage() {
  sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit 2
}

commit() {
  if [[ -n "${TUNESMITH_COMMIT:-}" ]]; then
    echo "$TUNESMITH_COMMIT"
  elif sha=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
    if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then echo "$sha-dirty"; else echo "$sha"; fi
  else
    echo unknown
  fi
}
COMMIT=$(commit)

# The same search as scripts/find-nvcc.mjs: $CUDACXX, $CUDA_PATH/bin, /usr/local/cuda/bin, PATH.
find_nvcc() {
  local c
  for c in "${CUDACXX:-}" "${CUDA_PATH:+$CUDA_PATH/bin/nvcc}" /usr/local/cuda/bin/nvcc; do
    if [[ -n "$c" && -x "$c" ]]; then
      echo "$c"
      return 0
    fi
  done
  command -v nvcc 2>/dev/null
}

# Seconds this call may still use (CALL_LIMIT_S minus what this script has used so far).
time_left() { echo $((CALL_LIMIT_S - SECONDS)); }

write_env() {
  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit: $COMMIT"
    echo "host: $(uname -a)"
    echo "phases: $*"
    echo
    echo "--- nvidia-smi"
    nvidia-smi 2>&1 || echo "(nvidia-smi not available)"
    echo
    echo "--- nvcc --version ($(find_nvcc || echo 'not found'))"
    "$(find_nvcc || echo nvcc)" --version 2>&1 || echo "(nvcc not available)"
    echo
    echo "--- cmake / ninja / c++"
    cmake --version 2>&1 | head -1 || true
    ninja --version 2>&1 || echo "(ninja not on PATH)"
    c++ --version 2>&1 | head -1 || true
    echo
    echo "--- python ($PYTHON)"
    "$PYTHON" -c 'import sys; print(sys.version.split()[0])' 2>&1 || true
    "$PYTHON" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -1 || true
  } >"$OUT/env.txt"
  echo "gpu-check: environment written to $OUT/env.txt"
}

phase_build() {
  say "build (CUDA archs $CUDA_ARCHS, $JOBS jobs) into $BUILD"
  local nvcc
  nvcc=$(find_nvcc) || fail "no CUDA compiler: nvcc not found (CUDACXX, CUDA_PATH, /usr/local/cuda/bin, PATH)"
  local gen=()
  # A build folder keeps the generator it was configured with.
  if [[ ! -f "$BUILD/CMakeCache.txt" ]] && command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi
  cmake -S native -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER="$nvcc" \
    -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS" 2>&1 | tee -a "$LOG" || fail "cmake configure failed (see $LOG)"
  cmake --build "$BUILD" -j "$JOBS" --target test_gpu bench_gpu 2>&1 | tee -a "$LOG" ||
    fail "build failed (see $LOG; CMake must find nvcc for the test_gpu and bench_gpu targets to exist)"
  [[ -x "$BUILD/tests/test_gpu" && -x "$BUILD/tests/bench_gpu" ]] || fail "build finished without test_gpu and bench_gpu"
  echo "gpu-check: built $BUILD/tests/test_gpu and $BUILD/tests/bench_gpu in ${SECONDS}s" | tee -a "$LOG"
}

need_build() {
  [[ -x "$BUILD/tests/$1" ]] || fail "$BUILD/tests/$1 is missing: run 'scripts/gpu-check.sh build' first (in the same machine session)"
}

phase_test() {
  need_build test_gpu
  say "test: test_gpu ${TEST_FILTER:-}"
  local rc=0
  "$BUILD/tests/test_gpu" ${TEST_FILTER:+"$TEST_FILTER"} 2>&1 | tee "$OUT/test_gpu.log" || rc=$?
  grep -E '^(test_gpu: |SKIP all)' "$OUT/test_gpu.log" >>"$LOG" || true
  if grep -q '^SKIP all GPU tests' "$OUT/test_gpu.log"; then
    echo "gpu-check: test_gpu found no usable CUDA device: nothing was tested" | tee -a "$LOG"
    FAILED+=("test (no device)")
  elif ((rc != 0)); then
    echo "gpu-check: test_gpu FAILED (exit $rc); the FAIL lines:" | tee -a "$LOG"
    grep -E '^FAIL ' "$OUT/test_gpu.log" | tee -a "$LOG" || true
    FAILED+=("test")
  fi
}

phase_bench() {
  need_build bench_gpu
  mkdir -p "$RESULTS"
  local budget=$(($(time_left) - 20))
  if ((budget < 60)); then
    echo "gpu-check: bench skipped — only $(time_left)s left in this call; run 'scripts/gpu-check.sh bench' in a new call" | tee -a "$LOG"
    FAILED+=("bench (no time left)")
    return
  fi
  local resume=(--resume)
  [[ "${BENCH_FRESH:-0}" == 1 ]] && resume=()
  say "bench: bench_gpu ${BENCH_ARGS:-} (budget ${budget}s, row timeout ${ROW_TIMEOUT_S}s)"
  local rc=0
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
  "$BUILD/tests/bench_gpu" --out "$RESULTS/tunesmith.json" --commit "$COMMIT" --budget-s "$budget" \
    --row-timeout "$ROW_TIMEOUT_S" "${resume[@]}" ${BENCH_ARGS:-} 2>&1 | tee -a "$LOG" || rc=$?
  if ((rc == NO_DEVICE)); then
    echo "gpu-check: bench: no usable CUDA device (bench_gpu says why above)" | tee -a "$LOG"
    FAILED+=("bench (no device)")
    return
  elif ((rc != 0)); then
    echo "gpu-check: bench_gpu FAILED (exit $rc)" | tee -a "$LOG"
    FAILED+=("bench")
  fi
  if [[ -f "$RESULTS/tunesmith.json" ]]; then
    cp "$RESULTS/tunesmith.json" "$OUT/tunesmith.json"
    echo "gpu-check: wrote $OUT/tunesmith.json" | tee -a "$LOG"
    if grep -q '"status": "skipped"' "$RESULTS/tunesmith.json"; then
      echo "gpu-check: some rows did not fit in this call: run 'scripts/gpu-check.sh bench' again to finish them" | tee -a "$LOG"
    fi
  fi
}

phase_baseline() {
  mkdir -p "$RESULTS"
  local budget=$(($(time_left) - 15))
  if ((budget < 60)); then
    echo "gpu-check: baseline skipped — only $(time_left)s left in this call; run 'scripts/gpu-check.sh baseline' in a new call" | tee -a "$LOG"
    FAILED+=("baseline (no time left)")
    return
  fi
  [[ -f bench/gpu/pytorch_baseline.py ]] || fail "bench/gpu/pytorch_baseline.py is not in this checkout"
  if ! "$PYTHON" -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
    echo "gpu-check: baseline skipped — $PYTHON has no torch with a CUDA device" | tee -a "$LOG"
    FAILED+=("baseline (no torch+CUDA)")
    return
  fi
  say "baseline: $PYTHON bench/gpu/pytorch_baseline.py ${BASELINE_ARGS:-} (at most ${budget}s)"
  local rc=0
  # The baseline rewrites its JSON after every row, so a timeout keeps the finished rows.
  # shellcheck disable=SC2086
  timeout --kill-after=10 "$budget" "$PYTHON" bench/gpu/pytorch_baseline.py --out "$RESULTS/pytorch.json" \
    ${BASELINE_ARGS:-} 2>&1 | tee -a "$LOG" || rc=$?
  if ((rc == 124 || rc == 137)); then
    echo "gpu-check: baseline stopped after ${budget}s (this call's time); finished rows are kept" | tee -a "$LOG"
    FAILED+=("baseline (timed out)")
  elif ((rc != 0)); then
    echo "gpu-check: baseline FAILED (exit $rc)" | tee -a "$LOG"
    FAILED+=("baseline")
  fi
  if [[ -f "$RESULTS/pytorch.json" ]]; then
    cp "$RESULTS/pytorch.json" "$OUT/pytorch.json"
    echo "gpu-check: wrote $OUT/pytorch.json" | tee -a "$LOG"
  fi
}

phase_table() {
  say "table"
  [[ -f bench/gpu/make_table.py ]] || fail "bench/gpu/make_table.py is not in this checkout"
  [[ -f "$RESULTS/tunesmith.json" ]] || fail "no $RESULTS/tunesmith.json: run 'scripts/gpu-check.sh bench' first (same machine session)"
  local pytorch=$RESULTS/pytorch.json
  if [[ ! -f "$pytorch" ]]; then
    echo "gpu-check: no PyTorch results ($pytorch): the table has no PyTorch column" | tee -a "$LOG"
    pytorch=$RESULTS/pytorch-none.json
    printf '{"generator": "none", "note": "PyTorch baseline not run", "rows": []}\n' >"$pytorch"
  fi
  "$PYTHON" bench/gpu/make_table.py --tunesmith "$RESULTS/tunesmith.json" --pytorch "$pytorch" \
    --commit "$COMMIT" --out "$OUT/gpu.md" 2>&1 | tee -a "$LOG" || fail "make_table.py failed"
  # bench/results/gpu-<card>.json: both result files in one, as `npm run bench:gpu` writes it.
  local combined
  combined=$("$PYTHON" - "$RESULTS/tunesmith.json" "$pytorch" "$OUT" <<'PY'
import json, os, re, sys
ts, pt = (json.load(open(p)) for p in sys.argv[1:3])
slug = re.sub(r"[^a-z0-9]+", "-", str(ts.get("card") or "unknown").lower()).strip("-") or "unknown"
path = os.path.join(sys.argv[3], f"gpu-{slug}.json")
with open(path + ".tmp", "w") as f:
    json.dump({"tunesmith": ts, "pytorch": pt}, f, indent=2)
    f.write("\n")
os.replace(path + ".tmp", path)
print(path)
PY
  ) || fail "could not write the combined results JSON"
  echo "gpu-check: wrote $OUT/gpu.md and $combined (copy them to bench/results/)" | tee -a "$LOG"
  sed -n '/^## Targets/,$p' "$OUT/gpu.md" | tee -a "$LOG"
}

(($# > 0)) || usage
PHASES=()
for arg in "$@"; do
  case "$arg" in
    all) PHASES+=(build test bench baseline table) ;;
    build | test | bench | baseline | table) PHASES+=("$arg") ;;
    -h | --help | help) usage ;;
    *)
      echo "gpu-check: unknown phase '$arg'" >&2
      usage
      ;;
  esac
done

FAILED=()
echo "gpu-check: phases ${PHASES[*]}; commit $COMMIT; results in $OUT (and $RESULTS)" | tee -a "$LOG"
write_env "${PHASES[@]}"
for p in "${PHASES[@]}"; do
  "phase_$p"
done
if ((${#FAILED[@]})); then
  echo "gpu-check: done in ${SECONDS}s; NOT OK: ${FAILED[*]}" | tee -a "$LOG"
  exit 1
fi
echo "gpu-check: done in ${SECONDS}s; all phases OK (${PHASES[*]})" | tee -a "$LOG"
