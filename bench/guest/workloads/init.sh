#!/bin/sh
# /init of the pagepress test guest (busybox). Settings come from the kernel command line:
#   pp.workload=pagecache|heap|idle|dirty   what to run (default idle)
#   pp.heartbeat=MS                         print "heartbeat <n>" on the console every MS ms (default 1000; 0 = off)
#   pp.interval=MS                          how often pagecache/heap change memory (default 2000)
#   pp.churn_kib=N                          pagecache: KiB of files copied into a rotating set per interval (8192)
#   pp.heap_mib=N pp.mutate=F               heap size and fraction of records changed per interval (192, 0.05)
#   pp.dirty_mib=N pp.dirty_rate=R pp.dirty_mode=bytes|random   dirty workload: area, MiB/s dirtied, how (256, 64, bytes)
# When the workload is set up it prints "PP-READY workload=<name>"; if setup fails, "PP-FAILED <why>".
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /tmp && mount -t tmpfs -o size=90% tmp /tmp
exec >/dev/console 2>&1 </dev/null

PP_workload=idle PP_heartbeat=1000 PP_interval=2000 PP_heap_mib=192 PP_mutate=0.05
PP_dirty_mib=256 PP_dirty_rate=64 PP_dirty_mode=bytes PP_churn_kib=8192
for w in $(cat /proc/cmdline); do
  case "$w" in
    pp.*=*) k=${w%%=*}; k=${k#pp.}; v=${w#*=}
      case "$k" in *[!a-z_]*) ;; *) eval "PP_$k=\$v" ;; esac ;;
  esac
done

if [ "$PP_heartbeat" -gt 0 ] 2>/dev/null; then
  ( n=0; while :; do echo "heartbeat $n"; n=$((n + 1)); usleep $((PP_heartbeat * 1000)); done ) &
fi

# Page cache: exact copies of every file under /data, copies shifted by 1-7 bytes, edited text
# copies, growing logs; then every interval more logs, a rotating set of fresh copies, edits.
pagecache_setup() {
  mkdir -p /tmp/pc/copy /tmp/pc/shift /tmp/pc/edit /tmp/pc/log /tmp/pc/rot
  cp -a /data /tmp/pc/copy/ || return 1
  i=0
  find /data -type f | sort > /tmp/pc/list
  find /data -type f -exec wc -c {} + | grep -v ' total$' | sort -k2 > /tmp/pc/sizes
  while read -r f; do
    i=$((i + 1))
    [ $((i % 2)) -eq 0 ] || continue
    s=$((i % 7 + 1))
    { printf "%${s}s" ""; cat "$f"; } > /tmp/pc/shift/$i || return 1
    case "$f" in
      *.h|*.py) [ $((i % 4)) -eq 0 ] && sed -e 's/int/long/g' -e 's/self/this/g' "$f" > /tmp/pc/edit/$i ;;
    esac
  done < /tmp/pc/list
  pagecache_tick 0
}
pagecache_tick() {
  t=$1
  j=0
  while [ $j -lt 200 ]; do
    echo "$(date +%s) tick=$t seq=$j level=info component=worker$((j % 7)) msg=processed request id=$((t * 1000 + j)) bytes=$((j * 37 % 4096))"
    j=$((j + 1))
  done >> /tmp/pc/log/app.log
  # A rotating set: ~PP_churn_kib KiB of /data per tick, copied exactly (one cp) and a third
  # of the files again shifted by 1-7 bytes, each set kept 4 ticks.
  n=$(wc -l < /tmp/pc/sizes)
  mkdir -p /tmp/pc/rot/$t
  awk -v k=$(( (t * 97) % n + 1 )) -v lim=$((PP_churn_kib * 1024)) 'NR >= k && s < lim { s += $1; print $2 }' /tmp/pc/sizes > /tmp/pc/batch
  cp $(cat /tmp/pc/batch) /tmp/pc/rot/$t/ 2>/dev/null
  awk 'NR % 3 == 0' /tmp/pc/batch | while read -r f; do
    { printf "%$((t % 7 + 1))s" ""; cat "$f"; } > "/tmp/pc/rot/$t/${f##*/}.s"
  done
  rm -rf /tmp/pc/rot/$((t - 4))
  e=$(ls /tmp/pc/edit | sed -n "$(( t % 5 + 1 ))p")
  [ -n "$e" ] && sed -i "s/long/int/" /tmp/pc/edit/$e
  return 0
}

ready() { echo "PP-READY workload=$PP_workload"; }
failed() { echo "PP-FAILED $*"; }
ms_sleep() { usleep $(($1 * 1000)); }

case "$PP_workload" in
  idle) ready ;;
  pagecache)
    if pagecache_setup; then
      ready
      ( t=1; while :; do ms_sleep "$PP_interval"; pagecache_tick $t; t=$((t + 1)); done ) &
    else failed pagecache setup; fi ;;
  heap)
    rm -f /tmp/heap.ready
    /bin/pp-heap "$PP_heap_mib" "$PP_interval" "$PP_mutate" /tmp/heap.ready &
    w=0; while [ ! -e /tmp/heap.ready ] && [ $w -lt 6000 ]; do usleep 100000; w=$((w + 1)); done
    if [ -e /tmp/heap.ready ]; then ready; else failed heap never got ready; fi ;;
  dirty)
    rm -f /tmp/dirty.ready
    /bin/pp-dirty "$PP_dirty_mib" "$PP_dirty_rate" "$PP_dirty_mode" /tmp/dirty.ready &
    w=0; while [ ! -e /tmp/dirty.ready ] && [ $w -lt 6000 ]; do usleep 100000; w=$((w + 1)); done
    if [ -e /tmp/dirty.ready ]; then ready; else failed dirty never got ready; fi ;;
  *) failed unknown workload "$PP_workload" ;;
esac

# init must never exit (the kernel would panic).
while :; do sleep 3600; done
