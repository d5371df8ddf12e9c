#!/usr/bin/env bash
# Workload 4 for bench/corpus/snapshot: a bash holding a big array (lines of text read
# from /usr/share plus generated records). Prints READY when warm, then idles until
# killed or orphaned. Args: [--scale X].
set -u
scale=1
if [ "${1:-}" = "--scale" ]; then scale="${2:-1}"; fi
# integer arithmetic only in bash: scale in thousandths
milli=$(awk -v s="$scale" 'BEGIN { printf "%d", s * 1000 }')
nrec=$(( 200000 * milli / 1000 ))
textbytes=$(( 8 * 1024 * 1024 * milli / 1000 ))

# ~8 MB of text lines from documentation under /usr/share (plain files only).
mapfile -t lines < <(find /usr/share/doc /usr/share/common-licenses /usr/share/perl* -type f \
  \( -name '*.txt' -o -name 'copyright' -o -name '*.pm' -o -name '*.pod' -o -name 'README*' \) \
  2>/dev/null | sort | xargs -d '\n' cat 2>/dev/null | head -c "$textbytes")
nlines=${#lines[@]}
[ "$nlines" -gt 0 ] || { lines=(alpha beta gamma); nlines=3; }

declare -a big
declare -A seen
for (( i = 0; i < nrec; i++ )); do
  l=${lines[i % nlines]}
  big[i]="rec-$i-$RANDOM-${l:0:48}"
  if (( i % 8 == 0 )); then seen["k$i-$RANDOM"]=$i; fi
done

echo "READY bash-array records=${#big[@]} lines=$nlines keys=${#seen[@]}"

parent=$PPID
start=$SECONDS
while kill -0 "$parent" 2>/dev/null && (( SECONDS - start < 3600 )); do
  sleep 1
done
