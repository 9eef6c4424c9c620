#!/usr/bin/env bash
# Regenerates the checked-in generated code (src/generated/ of the library and of
# crates/windlass-addressbook) with the Cap'n Proto tool, or with --check verifies that it is what
# a fresh generation produces (CI runs that). Never edit generated files by hand: change the
# schema and run this script. Each directory also holds schemas.sha256, the fingerprints
# windlass-build checks before it uses the copy on a machine without the tool.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-write}
case "$mode" in
  write|--check) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# package  crate-dir  (its build.rs writes the fresh output to WINDLASS_REGEN_DIR)
targets=("windlass ." "windlass-addressbook crates/windlass-addressbook")
stale=0
for target in "${targets[@]}"; do
  read -r package dir <<<"$target"
  if [ "$mode" = --check ]; then out=$(mktemp -d); else out="$PWD/$dir/src/generated"; fi
  # Touching the schemas makes the build script run again.
  touch "$dir"/schemas/*.capnp
  WINDLASS_REQUIRE_CAPNP=1 WINDLASS_REGEN_DIR="$out" cargo build --quiet -p "$package" --lib
  if [ "$mode" = --check ]; then
    if ! diff -ru "$dir/src/generated" "$out"; then
      echo "$dir/src/generated/ is stale: run scripts/regen-schemas.sh and commit the result" >&2
      stale=1
    else
      echo "$dir/src/generated/ matches $dir/schemas/"
    fi
    rm -rf "$out"
  else
    echo "regenerated $dir/src/generated/ from $dir/schemas/"
  fi
done
exit "$stale"
