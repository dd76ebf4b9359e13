#!/usr/bin/env bash
# The scale benchmark of issue 13, in one run: generates worlds of 1k, 10k and 30k users
# (10 keys per user, users/20 service IDs), then times, whole process (wall seconds, peak RSS
# from /usr/bin/time -v), best of N runs:
#   keyward check (one request), keyward validate, keyward audit --format jsonl (to a file:
#   its size is reported), and the `cedar authorize` CLI on keyward's export of the same
#   request (`keyward export ... --policies-out`), side by side, with the ratio.
# Prints a markdown table. Usage:
#   scripts/scale.sh [--sizes "1000 10000 30000"] [--runs 3] [--no-audit] [--no-cedar]
# KEYWARD=path/to/keyward runs another build (e.g. an older one, for before/after).
# Needs: a release build (`cargo build --release`), /usr/bin/time, and `cedar` on PATH or in
# ~/.cargo/bin (cargo install cedar-policy-cli) unless --no-cedar.
set -euo pipefail

sizes="1000 10000 30000"
runs=3
audit=1
cedar_cli=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --no-audit) audit=0; shift ;;
    --no-cedar) cedar_cli=0; shift ;;
    *) echo "unknown argument $1" >&2; exit 1 ;;
  esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
kw="${KEYWARD:-$root/target/release/keyward}"
[ -x "$kw" ] || { echo "build first: cargo build --release" >&2; exit 1; }
cedar="$(command -v cedar || echo "$HOME/.cargo/bin/cedar")"
if [ "$cedar_cli" = 1 ] && [ ! -x "$cedar" ]; then
  echo "no cedar CLI (cargo install cedar-policy-cli), or pass --no-cedar" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# best WALL_S RSS_MB of $runs runs of a command (its stdout to $work/out, its exit status ignored)
best() {
  local bw="" bm=""
  for _ in $(seq "$runs"); do
    /usr/bin/time -v -o "$work/tv" "$@" >"$work/out" 2>/dev/null || true
    local w m
    w=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$work/tv")
    m=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$work/tv")
    if [ -z "$bw" ] || awk "BEGIN{exit !($w < $bw)}"; then bw=$w; bm=$m; fi
  done
  echo "$bw $bm"
}

echo "| users | keys | world | what | wall s (best of $runs) | peak RSS MB |"
echo "|---:|---:|---:|---|---:|---:|"
for users in $sizes; do
  sids=$(( users / 20 )); accounts=$(( users >= 10000 ? users / 500 : 2 ))
  w="$work/w$users.yaml"
  "$kw" generate --users "$users" --keys-per-user 10 --service-ids "$sids" \
    --accounts "$accounts" --seed 42 --out "$w" 2>/dev/null
  keys=$(grep -c '^- id: key-' "$w" || true)
  size=$(du -m "$w" | cut -f1)
  # One request: the first account's owner deletes the first key.
  owner=$(awk '/^  owner:/ {print $2; exit}' "$w")
  key=$(awk '/^- id: key-/ {print $3; exit}' "$w")
  req=(--principal "$owner" --action api-key-delete --resource "$key")
  row() { echo "| $users | $keys | ${size} MB | $1 | $2 | $3 |"; }
  read -r cw cm < <(best "$kw" check --world "$w" "${req[@]}")
  row '`keyward check`' "$cw" "$cm"
  read -r vw vm < <(best "$kw" validate --world "$w")
  row '`keyward validate`' "$vw" "$vm"
  if [ "$cedar_cli" = 1 ]; then
    "$kw" export --world "$w" "${req[@]}" --policies-out "$work/p.cedar" >"$work/x.json"
    python3 -c "import json,sys; d=json.load(open(sys.argv[1])); json.dump(d['entities'],open(sys.argv[2],'w')); json.dump(d['request'],open(sys.argv[3],'w'))" \
      "$work/x.json" "$work/e.json" "$work/r.json"
    emb=$(du -m "$work/e.json" | cut -f1)
    read -r xw xm < <(best "$cedar" authorize --policies "$work/p.cedar" \
      --schema "$root/schemas/keyward.cedarschema" --entities "$work/e.json" --request-json "$work/r.json")
    verdict=$(grep -o -m1 "ALLOW\|DENY" "$work/out" || echo "?")
    ratio=$(awk "BEGIN{printf \"%.1f\", $xw / $cw}")
    row "\`cedar authorize\` on the export (${emb} MB entities, $verdict): keyward check is ${ratio}x faster" "$xw" "$xm"
  fi
  if [ "$audit" = 1 ]; then
    read -r aw am < <(best "$kw" audit --world "$w" --format jsonl)
    # The output in bytes and in MB of 10^6 bytes (as the issue's goal counts them; `du -m`
    # would count MiB).
    rows=$(wc -l <"$work/out"); obytes=$(stat -c %s "$work/out")
    osz=$(awk "BEGIN{printf \"%.1f\", $obytes / 1e6}")
    row "\`keyward audit --format jsonl\` ($rows lines, $obytes bytes = ${osz} MB)" "$aw" "$am"
  fi
done
