#!/bin/sh
# Every libFuzzer target fuzz/<t>.c: the inputs it once crashed on or that
# pin an edge (fuzz/regress/<t>/) plus its seeds (the files and directories
# listed in fuzz/<t>.seeds: the GraphQL conformance corpus, the Open Library
# fixtures), replayed through build[/asan]/t/prog/<t>_replay in the normal
# and the ASan/UBSan builds: each must run to the end with no sanitizer report.
cd "$(dirname "$0")/.." || exit 1
targets=$(for f in fuzz/*.c; do basename "$f" .c; done)
echo "1..$(($(echo "$targets" | wc -l) * 2))"
n=0
for t in $targets; do
  set -- fuzz/regress/"$t"/*
  for s in $(cat "fuzz/$t.seeds" 2>/dev/null); do
    if [ -d "$s" ]; then set -- "$@" "$s"/*; else set -- "$@" "$s"; fi
  done
  for b in build build/asan; do
    n=$((n + 1))
    prog=$b/t/prog/${t}_replay
    if [ ! -x "$prog" ]; then echo "ok $n - # SKIP $prog not built"; continue; fi
    if out=$(ASAN_OPTIONS=detect_leaks=1 "$prog" "$@" 2>&1) && ! printf '%s' "$out" | grep -q 'ERROR\|runtime error'; then
      echo "ok $n - $prog: $out"
    else
      echo "not ok $n - $prog"; printf '%s\n' "$out" | sed 's/^/# /' | head -40
    fi
  done
done
