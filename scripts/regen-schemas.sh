#!/usr/bin/env bash
# Regenerates src/generated/ from schemas/ with the Cap'n Proto tool, or with --check verifies
# that the checked-in code is what a fresh generation produces (CI runs that). Never edit the
# files in src/generated/ by hand: change the schema and run this script.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-write}
case "$mode" in
  write) dir=src/generated ;;
  --check) dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# build.rs writes the fresh output to WINDLASS_REGEN_DIR; touching the schemas makes it run.
[[ "$dir" = /* ]] || dir="$PWD/$dir"
touch schemas/*.capnp
WINDLASS_REQUIRE_CAPNP=1 WINDLASS_REGEN_DIR="$dir" cargo build --quiet --lib

if [ "$mode" = --check ]; then
  if ! diff -ru src/generated "$dir"; then
    echo "src/generated/ is stale: run scripts/regen-schemas.sh and commit the result" >&2
    exit 1
  fi
  echo "src/generated/ matches schemas/"
else
  echo "regenerated src/generated/ from schemas/"
fi
