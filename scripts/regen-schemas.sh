#!/usr/bin/env bash
# Regenerates every checked-in copy of generated code (the directories holding a schemas.sha256:
# src/generated/, crates/windlass-calculator/src/generated/, examples/chat_room/src/generated/,
# crates/windlass-addressbook/src/generated/) with
# the Cap'n Proto tool, or with --check verifies that each is what a fresh generation produces
# (CI runs that). Never edit generated files by hand: change the schema and run this script.
# schemas.sha256 holds the fingerprints windlass-build checks before it uses a copy on a machine
# without the tool.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-write}
case "$mode" in
  write|--check) ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

# package and crate directory; its build.rs writes fresh copies under WINDLASS_REGEN_DIR,
# mirroring each checked-in directory's path inside the crate.
targets=("windlass ." "windlass-calculator crates/windlass-calculator"
  "windlass-chat-room examples/chat_room" "windlass-addressbook crates/windlass-addressbook")
stale=0
for target in "${targets[@]}"; do
  read -r package dir <<<"$target"
  if [ "$mode" = --check ]; then out=$(mktemp -d); else out=$(cd "$dir" && pwd); fi
  # Touching the schemas makes the build script run again.
  find "$dir" -name '*.capnp' -not -path '*/target/*' -exec touch {} +
  WINDLASS_REQUIRE_CAPNP=1 WINDLASS_REGEN_DIR="$out" WINDLASS_REGEN_PACKAGE="$package" \
    cargo build --quiet -p "$package"
  for sums in $(cd "$dir" && find . -name schemas.sha256 -not -path './target/*' -not -path './crates/*' -not -path './docs/*' -not -path './examples/*'); do
    copy=$(dirname "$sums")
    if [ "$mode" = --check ]; then
      if ! diff -ru "$dir/$copy" "$out/$copy"; then
        echo "$dir/$copy is stale: run scripts/regen-schemas.sh and commit the result" >&2
        stale=1
      else
        echo "$dir/$copy matches its schemas"
      fi
    else
      echo "regenerated $dir/$copy"
    fi
  done
  [ "$mode" = --check ] && rm -rf "$out"
done
exit "$stale"
