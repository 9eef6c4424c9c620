#!/usr/bin/env bash
# Instructions per call, counted by valgrind's callgrind: the figure that does not move with the
# machine's noise. For each mode it runs `windlass-calc bench <mode>` under callgrind twice, with
# N and 2N calls (chains in chain mode), and reports (I(2N) - I(N)) / N: the marginal cost of one
# call, client and server together, with start-up, TLS handshakes and exit cancelled out.
#
#   benches/instructions.sh                 # seq pipe conns chain, 2 000 calls
#   benches/instructions.sh -n 4000 seq     # one mode, more calls
#
# Contenders: bare capnp-rpc (hand-written accept loop; the client is windlass's in every
# contender), windlass plain, windlass TLS. Ratios: windlass / bare (what the runtime costs) and
# TLS / plain (what TLS costs). Needs valgrind (`apt-get install valgrind`); builds the release
# binary first. Expect ≈ 1 minute per mode.
set -euo pipefail
cd "$(dirname "$0")/.."

calls=2000
usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  echo
  echo "usage: $0 [-n CALLS] [seq|pipe|conns|chain]..."
}
while getopts "n:h" opt; do
  case "$opt" in
    n) calls=$OPTARG ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
modes=("$@")
[ ${#modes[@]} -eq 0 ] && modes=(seq pipe conns chain)
case "$calls" in
  '' | *[!0-9]*) echo "error: -n wants a whole number of calls, not '$calls'" >&2; exit 2 ;;
esac
for mode in "${modes[@]}"; do
  case "$mode" in
    seq | pipe | conns | chain) ;;
    *) echo "error: unknown mode '$mode' (seq, pipe, conns or chain)" >&2; exit 2 ;;
  esac
done
if ! command -v valgrind >/dev/null; then
  echo "error: valgrind is not installed (apt-get install valgrind)" >&2
  exit 1
fi

cargo build --release --quiet --bin windlass-calc
bin=target/release/windlass-calc
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# Total instructions of one run: mode, call count, extra flags.
count() {
  local mode=$1 n=$2
  shift 2
  local out="$scratch/callgrind.out"
  # --secs is only a safety bound here: the run ends at the call count long before.
  if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
    "$bin" bench "$mode" --calls "$n" --secs 600 --no-cpu-pin "$@" >"$scratch/log" 2>&1; then
    echo "error: '$bin bench $mode --calls $n $*' failed under valgrind:" >&2
    tail -5 "$scratch/log" >&2
    exit 1
  fi
  local total
  total=$(sed -n 's/^summary: *//p' "$out")
  # A run that stopped before its call count would make the difference meaningless.
  if ! grep -Eq "[[:space:]]$n[[:space:]]" "$scratch/log"; then
    echo "error: '$bin bench $mode --calls $n $*' did not complete $n operations:" >&2
    tail -3 "$scratch/log" >&2
    exit 1
  fi
  echo "$total"
}

# Marginal instructions per operation.
per_call() {
  local mode=$1
  shift
  local one two
  one=$(count "$mode" "$calls" "$@")
  two=$(count "$mode" $((2 * calls)) "$@")
  echo $(((two - one) / calls))
}

printf '# callgrind, marginal instructions per operation (client + server), %d vs %d operations\n' \
  "$calls" $((2 * calls))
printf '%-8s %14s %14s %14s %14s %12s\n' mode bare "windlass" "windlass TLS" "windlass/bare" "TLS/plain"
for mode in "${modes[@]}"; do
  bare=$(per_call "$mode" --bare)
  plain=$(per_call "$mode")
  tls=$(per_call "$mode" --tls)
  printf '%-8s %14d %14d %14d %14s %12s\n' "$mode" "$bare" "$plain" "$tls" \
    "$(awk -v a="$plain" -v b="$bare" 'BEGIN { printf "%.3f", a / b }')" \
    "$(awk -v a="$tls" -v b="$plain" 'BEGIN { printf "%.3f", a / b }')"
done
