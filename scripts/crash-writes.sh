#!/usr/bin/env bash
# Concurrent writers and kill -9: N rounds of 8 concurrent `apply --write --log` (every update
# must land, one log line each), then K runs killed at a random moment (the world must stay a
# whole, valid world and the log a valid chain).
# Usage: scripts/crash-writes.sh [keyward] [rounds] [kills]
set -u
K=$(readlink -f "${1:-target/release/keyward}"); ROUNDS=${2:-25}; KILLS=${3:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd); D=$(mktemp -d); cd "$D"
lost=0; extra=0; writes=0
for r in $(seq 1 "$ROUNDS"); do
  cp "$ROOT/fixtures/acme.yaml" w.yaml; rm -f w.log
  for i in $(seq 1 8); do
    "$K" apply --world w.yaml --write --log w.log --principal ivan --action api-key-create --resource ci-bot --arg "name=p$r-$i" >/dev/null 2>&1 &
  done
  wait; writes=$((writes+8))
  for i in $(seq 1 8); do grep -q "name: p$r-$i" w.yaml || lost=$((lost+1)); done
  [ "$(wc -l < w.log)" -eq 8 ] || extra=$((extra+1))
  "$K" log verify w.log --world w.yaml >/dev/null || extra=$((extra+1))
done
corrupt=0; unwritten=0
cp "$ROOT/fixtures/acme.yaml" k.yaml; rm -f k.log
for i in $(seq 1 "$KILLS"); do
  "$K" apply --world k.yaml --write --log k.log --principal kate --action api-key-create --resource kate --arg "name=k$i" >/dev/null 2>&1 &
  pid=$!; sleep "0.0$((RANDOM % 60))"; kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  "$K" validate --world k.yaml >/dev/null 2>&1 || corrupt=$((corrupt+1))
  v=$("$K" log verify k.log --world k.yaml 2>&1)
  case "$v" in
    intact*) ;;
    *"changed outside keyward"*) unwritten=$((unwritten+1)); # logged, killed before the rename
       # the world stays valid; start a fresh log from here so later kills are judged alone
       rm -f k.log ;;
    *"No such file"*|*"cannot verify"*) ;;  # killed before the first line
    *) corrupt=$((corrupt+1)); echo "$v"; rm -f k.log ;;
  esac
  # keep the identity under the 20-key limit
  [ $((i % 15)) -eq 0 ] && cp "$ROOT/fixtures/acme.yaml" k.yaml && rm -f k.log
done
echo "concurrent writes: $writes, lost: $lost, rounds with a wrong log: $extra; kills: $KILLS, corrupt worlds or logs: $corrupt, logged but killed before the rename: $unwritten"
rm -rf "$D"
