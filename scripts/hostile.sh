#!/usr/bin/env bash
# Hostile inputs: each case is a malformed file or argument given to one command. For every case
# this records the exit code, the wall time and peak memory, whether the error is located
# (`file:line:col` or a `--flag`), and whether a planted secret appears anywhere in the output.
# Usage: scripts/hostile.sh [path/to/keyward]   (prints a summary; details in $OUT)
set -u
K=${1:-target/release/keyward}
K=$(readlink -f "$K")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d)}
W=$OUT/w; mkdir -p "$W"; cd "$W"
ACME=$ROOT/fixtures/acme.yaml
SECRET=S3cr3tValue0123456789abcdefghijklmnopq
n=0; crashes=0; unlocated=0; accepted=0; leaks=0; slow=0
run() { # name, expect-located(1/0), command...
  local name=$1 loc=$2; shift 2; n=$((n+1))
  local t0=$(date +%s.%N)
  ( ulimit -v 4000000; timeout 30 "$@" ) > "$OUT/$n.out" 2> "$OUT/$n.err"; local rc=$?
  local dt=$(echo "$(date +%s.%N) - $t0" | bc)
  # The one line that may show a key value: apply's creation line.
  local all; all=$(cat "$OUT/$n.out" "$OUT/$n.err" | grep -v '^api key value (shown once')
  local flag=""
  if [ $rc -ge 100 ] || [ $rc -eq 124 ]; then crashes=$((crashes+1)); flag="$flag CRASH($rc)"; fi
  if [ "$loc" = 1 ] && [ $rc -ne 1 ] && [ $rc -lt 100 ] && [ $rc -ne 124 ]; then accepted=$((accepted+1)); flag="$flag NOT-REFUSED"; fi
  if [ "$loc" = 1 ] && [ $rc -eq 1 ] && ! grep -Eq '[^ ]+:[0-9]+:[0-9]+|--[a-z-]+|\[[0-9]+\]' <<<"$all"; then unlocated=$((unlocated+1)); flag="$flag UNLOCATED"; fi
  if grep -q "$SECRET" <<<"$all"; then leaks=$((leaks+1)); flag="$flag LEAK"; fi
  if (( $(echo "$dt > 10" | bc) )); then slow=$((slow+1)); flag="$flag SLOW"; fi
  printf '%3d rc=%-3s %6.2fs %-45s%s\n' $n $rc $dt "$name" "$flag" >> "$OUT/summary.txt"
}
world() { printf '%s' "$2" > "$W/$1"; }
laughs() { printf 'a0: &a0 [l,l,l,l,l,l,l,l,l,l]\n'; for i in $(seq 1 9); do printf "a$i: &a$i [*a$((i-1)),*a$((i-1)),*a$((i-1)),*a$((i-1)),*a$((i-1)),*a$((i-1)),*a$((i-1)),*a$((i-1)),*a$((i-1)),*a$((i-1))]\n"; done; }

# 1. alias expansion, in every kind of YAML file and before an unknown section
{ laughs; cat "$ACME"; } > laughs-world.yaml
run "laughs: world" 1 $K validate --world laughs-world.yaml
{ printf 'world: %s\n' "$ACME"; laughs; printf 'steps: []\n'; } > laughs-script.yaml
run "laughs: script" 1 $K run laughs-script.yaml
{ printf 'world: %s\n' "$ACME"; laughs; printf 'checks: []\n'; } > laughs-test.yaml
run "laughs: test file" 1 $K test laughs-test.yaml
{ laughs | sed 's/^a/zz_a/'; } > laughs-unknown.yaml
run "laughs: unknown sections only" 1 $K validate --world laughs-unknown.yaml
# 2. deep nesting: YAML, a policy, the schema
python3 -c 'print("accounts: " + "["*3000 + "]"*3000)' > deep.yaml
run "deep YAML" 1 $K validate --world deep.yaml
mkdir -p deep-pol; python3 -c 'print("@id(\"d\")\n@rule(\"R1\")\n@doc(\"d\")\npermit(principal, action, resource) when { " + "("*1000 + "true" + ")"*1000 + " };")' > deep-pol/p.cedar
run "deep policy: validate" 1 $K validate --policies deep-pol
run "deep policy: check" 1 $K check --world "$ACME" --policies deep-pol --principal kate --action api-key-get --resource key-kate-1
python3 -c 'print("@id(\"d\")\n@rule(\"R1\")\n@doc(\"d\")\npermit(principal, action, resource) when { " + "!"*5000 + "true };")' > deep-pol/p.cedar
run "deep policy: unary chain" 1 $K validate --policies deep-pol
python3 -c 'print("@id(\"d\")\n@rule(\"R1\")\n@doc(\"d\")\npermit(principal, action, resource) when { " + "if true then "*2000 + "true" + " else false"*2000 + " };")' > deep-pol/p.cedar
run "deep policy: if chain" 1 $K validate --policies deep-pol
# 3. a long classic hierarchy (valid; must stay bounded)
python3 - <<'PY' > chain.yaml
n=5000
print("now: 2026-11-23T12:00:00Z\naccounts:\n  - { id: a, owner: u0, restrict_user_api_key_creation: NOT_RESTRICTED }\nusers:")
for i in range(n):
    parent = f", classic_parent: u{i-1}" if i else ""
    print(f"  - {{ id: u{i}, accounts: [a]{parent} }}")
PY
run "classic chain 5000: check" 0 $K check --world chain.yaml --principal u0 --action classic-api-key-get --resource u4999 --arg account=a
# 4. generate bounds
run "generate --users huge" 1 $K generate --users 99999999999999 --keys-per-user 1 --service-ids 0 --accounts 1 --seed 1
run "generate --accounts huge" 1 $K generate --users 10 --keys-per-user 1 --service-ids 0 --accounts 99999999999 --seed 1
run "generate --keys-per-user huge" 1 $K generate --users 10 --keys-per-user 99999999999 --service-ids 0 --accounts 1 --seed 1
run "generate --service-ids huge" 1 $K generate --users 10 --keys-per-user 1 --service-ids 99999999999 --accounts 1 --seed 1
# 5. counters at their limit
sed 's/id: key-kate-1/id: key-18446744073709551615/; s/key-kate-1\b/key-18446744073709551615/g' "$ACME" > wrap.yaml
run "next id at u64::MAX" 0 $K apply --world wrap.yaml --principal kate --action api-key-create --resource kate --arg name=x
# 6. control characters in ids and data
printf 'now: 2026-11-23T12:00:00Z\naccounts:\n  - { id: "acme\\nALLOW x", owner: u, restrict_user_api_key_creation: NOT_SET }\nusers:\n  - { id: u, accounts: ["acme\\nALLOW x"] }\n' > ctl2.yaml
run "newline in an account id" 1 $K validate --world ctl2.yaml
printf 'now: 2026-11-23T12:00:00Z\naccounts:\n  - { id: acme, owner: "u\\e[31m", restrict_user_api_key_creation: NOT_SET }\nusers:\n  - { id: "u\\e[31m", accounts: [acme] }\n' > ctl3.yaml
run "escape sequence in a user id" 1 $K validate --world ctl3.yaml
run "escape sequence in --principal" 1 $K check --world "$ACME" --principal $'kate\e[2J' --action api-key-get --resource key-kate-1
# 7. timestamps
sed 's/^now: .*/now: 2026-11-23T12:00:60Z/' "$ACME" > leap.yaml
run "leap second now" 1 $K validate --world leap.yaml
sed 's/^now: .*/now: 10000-01-01T00:00:00Z/' "$ACME" > y10k.yaml
run "year 10000 now" 1 $K validate --world y10k.yaml
run "audit on a leap-second world" 1 $K audit --world leap.yaml
run "--now leap second" 1 $K check --world "$ACME" --now 2026-11-23T12:00:60Z --principal kate --action api-key-get --resource key-kate-1
sed 's/^now: .*/now: 2026-11-23T12:00:00.1234Z/' "$ACME" > subms.yaml
run "sub-millisecond now" 1 $K validate --world subms.yaml
# 8. limits and shapes
python3 - "$ACME" <<'PY' > keys21.yaml
import sys
print("now: 2026-11-23T12:00:00Z\naccounts:\n  - { id: a, owner: u, restrict_user_api_key_creation: NOT_SET }\nusers:\n  - { id: u, accounts: [a] }\napi_keys:")
for i in range(21): print(f"  - {{ id: k{i}, name: n{i}, identity: u, account: a }}")
PY
run "21 keys on one identity" 1 $K validate --world keys21.yaml
{ cat "$ACME"; printf -- '---\nusers: []\n'; } > twodocs.yaml
run "second YAML document" 1 $K validate --world twodocs.yaml
printf 'now: 2026-11-23T12:00:00Z\naccounts:\n  - [a, u, NOT_SET]\nusers:\n  - [u, [a]]\n' > lists.yaml
run "records written as lists" 1 $K validate --world lists.yaml
printf 'now: 2026-11-23T12:00:00Z\naccounts:\n  - { id: a, owner: u, restrict_user_api_key_creation: NOT_SET }\nusers:\n  - { id: u, accounts: [] }\n' > owner.yaml
run "owner not a member" 1 $K validate --world owner.yaml
# 9. run steps that cannot be decided, expected to fail
printf 'world: %s\nsteps:\n  - { principal: kate, action: api-key-frobnicate, resource: key-kate-1, expect: fail }\n' "$ACME" > badstep.yaml
run "run: unknown action with expect fail" 1 $K run badstep.yaml
printf 'world: %s\nsteps:\n  - { principal: nobody, action: api-key-get, resource: key-kate-1, expect: fail }\n' "$ACME" > badstep2.yaml
run "run: unknown principal with expect fail" 1 $K run badstep2.yaml
# 10. policy ids
mkdir -p ids; printf '@id("")\n@rule("R1")\n@doc("d")\npermit(principal, action, resource);\n' > ids/p.cedar
run "@id empty" 1 $K validate --policies ids
printf '@id("   ")\n@rule("R1")\n@doc("d")\npermit(principal, action, resource);\n' > ids/p.cedar
run "@id spaces" 1 $K validate --policies ids
# 11. bytes and fields
{ printf 'now: 2026-11-23T12:00:00Z\nusers:\n  - { id: "\xff\xfe" }\n'; } > nonutf8.yaml
run "non-UTF-8 bytes" 1 $K validate --world nonutf8.yaml
{ printf '\xef\xbb\xbf'; cat "$ACME"; } > bom.yaml
run "BOM (accepted)" 0 $K validate --world bom.yaml
{ printf 'now: 2026-11-23T12:00:00Z\nusers:\n  - { id: a\x00b }\n'; } > nul.yaml
run "NUL byte" 1 $K validate --world nul.yaml
printf 'world: %s\npolicies: 5\nchecks: []\n' "$ACME" > tf-pol.yaml
run "test file: policies not a list" 1 $K test tf-pol.yaml
printf 'world: %s\nvariant: nosuch\nchecks: []\n' "$ACME" > tf-var.yaml
run "test file: unknown variant" 1 $K test tf-var.yaml
printf 'world: %s\nnow: yesterday\nchecks: []\n' "$ACME" > tf-now.yaml
run "test file: bad now" 1 $K test tf-now.yaml
printf 'steps:\n  - { principal: kate, action: api-key-get, resource: key-kate-1 }\n' > noworld.yaml
run "script: no world" 1 $K run noworld.yaml
# 12. secrets
printf 'world: %s\nchecks:\n  - { name: s, principal: kate, action: api-key-create, resource: kate, args: { apikey: %s }, expect: allow }\n  - { name: t, principal: nobody, action: api-key-create, resource: kate, args: { apikey: %s }, expect: allow }\n' "$ACME" "$SECRET" "$SECRET" > tf-secret.yaml
run "test: apikey in messages" 0 $K test tf-secret.yaml
run "check: short apikey" 0 $K check --world "$ACME" --principal kate --action api-key-create --resource kate --arg apikey=short$SECRET
run "check: unknown principal with apikey" 0 $K check --world "$ACME" --principal nobody --action api-key-create --resource kate --arg apikey=$SECRET
cp "$ACME" sec.yaml
run "apply --write --log: apikey" 0 $K apply --world sec.yaml --write --log sec.log --principal kate --action api-key-create --resource kate --arg apikey=$SECRET
if grep -q "$SECRET" sec.yaml sec.log 2>/dev/null; then leaks=$((leaks+1)); echo "LEAK in world or log" >> "$OUT/summary.txt"; fi

cat "$OUT/summary.txt"
echo "inputs: $n  crashes: $crashes  accepted but should be refused: $accepted  refused without a location: $unlocated  secret leaks: $leaks  over 10 s: $slow  (details: $OUT)"
