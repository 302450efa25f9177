#!/usr/bin/env bash
# Evaluate the streaming anomaly detector on NAB (the Numenta Anomaly Benchmark).
#
#   scripts/nab-eval.sh [NAB_DIR] [RESULTS_DIR]
#
# NAB_DIR holds `data/` (one `timestamp,value` CSV per series, in category folders) and
# `combined_windows.json` (the labelled anomaly windows); default: ../shared/data/nab next to the
# repository. RESULTS_DIR receives one `timestamp,anomaly_score` CSV per series at the same relative
# path; default: <target dir>/nab-results. The script builds the release binary, runs
# `logflow anomaly score` on every series (each point scored once, in order, from the past only),
# then prints the NAB scores of the three profiles (`standard` last) from
# ../shared/tools/nab_score.py (override with NAB_SCORER=/path/to/nab_score.py).
#
# Relative paths given as arguments are taken from the directory the script is called from.
set -euo pipefail

caller_dir="$(pwd)"
repo="$(cd "$(dirname "$0")/.." && pwd)"
absolute() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$2/$1" ;; esac; }

nab_dir="$(absolute "${1:-$repo/../shared/data/nab}" "$caller_dir")"
target_dir="$(absolute "${CARGO_TARGET_DIR:-target}" "$repo")"
results_dir="$(absolute "${2:-$target_dir/nab-results}" "$caller_dir")"
scorer="${NAB_SCORER:-$repo/../shared/tools/nab_score.py}"

for required in "$nab_dir/data" "$nab_dir/combined_windows.json" "$scorer"; do
  if [ ! -e "$required" ]; then
    echo "nab-eval: $required not found" >&2
    exit 1
  fi
done

echo "== building logflow (release)" >&2
(cd "$repo" && cargo build --release --quiet -p logflow)
logflow="$target_dir/release/logflow"

echo "== scoring $nab_dir/data -> $results_dir" >&2
count=0
while IFS= read -r -d '' csv; do
  relative="${csv#"$nab_dir/data/"}"
  mkdir -p "$results_dir/$(dirname "$relative")"
  "$logflow" anomaly score --input "$csv" --output "$results_dir/$relative"
  count=$((count + 1))
done < <(find "$nab_dir/data" -name '*.csv' -type f -print0 | sort -z)
echo "== scored $count series; NAB scores:" >&2

python3 "$scorer" --windows "$nab_dir/combined_windows.json" --results "$results_dir"
