#!/bin/sh
# Inputs the GraphQL fuzzer once crashed on (fuzz/regress/gql_fuzz/) plus the
# conformance corpus, replayed through the fuzz target in the normal and the
# ASan/UBSan builds: each must run to the end with no sanitizer report.
cd "$(dirname "$0")/.." || exit 1
set -- fuzz/regress/gql_fuzz/* t/gql/corpus/*.graphql
n=0
echo "1..2"
for b in build build/asan; do
  n=$((n + 1))
  prog=$b/t/prog/gql_fuzz_replay
  if [ ! -x "$prog" ]; then echo "ok $n - # SKIP $prog not built"; continue; fi
  if out=$(ASAN_OPTIONS=detect_leaks=1 "$prog" "$@" 2>&1) && ! printf '%s' "$out" | grep -q 'ERROR\|runtime error'; then
    echo "ok $n - $prog: $out"
  else
    echo "not ok $n - $prog"; printf '%s\n' "$out" | sed 's/^/# /' | head -40
  fi
done
