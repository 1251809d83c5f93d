#!/usr/bin/env bash
# Writes what a policy-miner binary prints for each input trail into OUT, one file per command,
# so two builds can be compared byte for byte (`diff -r`): a refactoring must change none.
#
#   scripts/outputs.sh BINARY OUT [TRAIL_DIR…]
#
# Always covers the bundled example, the generated fleet of `bench` and the fleet fixture
# (tests/fixtures/fleet); each TRAIL_DIR
# given (e.g. a folder of real CloudTrail samples) is observed on its own too.
set -euo pipefail
bin=$(realpath "$1"); out=$2; shift 2
here=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

run_all() { # name, then observe's arguments
    local name=$1; shift
    local db=$work/$name.db
    "$bin" --db "$db" observe --quiet "$@" >/dev/null 2>&1 || true
    for f in text json iam terraform cloudformation markdown; do
        "$bin" --db "$db" propose --format "$f" >"$out/$name.propose.$f" 2>&1 || echo "exit $?" >>"$out/$name.propose.$f"
    done
    for f in text json; do
        "$bin" --db "$db" verify --format "$f" >"$out/$name.verify.$f" 2>&1 || echo "exit $?" >>"$out/$name.verify.$f"
    done
    "$bin" --db "$db" propose --format json 2>/dev/null | python3 -c '
import json, sys
for r in json.load(sys.stdin)["roles"]:
    print(r["role_arn"])' | while read -r role; do
        "$bin" --db "$db" explain --role "$role" >>"$out/$name.explain" 2>&1 || echo "exit $?" >>"$out/$name.explain"
    done
}

run_all example --task-definitions "$here/examples/taskdefs" "$here/examples/AWSLogs"
# The generated fleet of `bench` (a small one: the same seed gives the same trail).
"$bin" bench --events 20000 --events-per-file 500 --dir "$work/generated" --keep >/dev/null 2>&1
run_all generated --task-definitions "$work/generated/taskdefs" "$work/generated/trail"
run_all fleet --task-definitions "$here/tests/fixtures/fleet/taskdefs" "$here/tests/fixtures/fleet/trail"
for dir in "$@"; do
    # Samples saved under other extensions (`.json.cloudtrail`) are read as the JSON they are.
    copy=$work/$(basename "$dir").trail; mkdir -p "$copy"
    find "$dir" -type f \( -name '*.json' -o -name '*.json.gz' -o -name '*.cloudtrail' \) | while read -r f; do
        case $f in *.json|*.json.gz) cp "$f" "$copy/" ;; *) cp "$f" "$copy/$(basename "$f").json" ;; esac
    done
    run_all "$(basename "$dir")" "$copy"
done
