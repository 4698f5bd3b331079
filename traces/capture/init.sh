#!/bin/busybox sh
# trollcount capture guest /init (busybox initramfs). capture.ts puts this file at /init,
# the generated kprobe lines at /probes/kprobes.txt, the tracepoints at /probes/events.txt and
# the static workload at /wl/workload. Results go to the second serial port (/dev/ttyS1) as
# "@@TC ..." text lines; the gzip-compressed trace follows "@@TC trace-begin len=N sha256=H".
/bin/busybox mkdir -p /proc /sys /dev /tmp /mnt/huge /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o huge=always,size=256m tmpfs /mnt/huge

stty -F /dev/ttyS1 115200 raw -echo -onlcr -opost
exec 3>/dev/ttyS1
out() { echo "@@TC $*" >&3; }
out "hello"
out "uname $(uname -a)"
out "cmdline $(cat /proc/cmdline)"
out "thp $(cat /sys/kernel/mm/transparent_hugepage/enabled) defrag=$(cat /sys/kernel/mm/transparent_hugepage/defrag)"

T=/sys/kernel/tracing
echo 0 > $T/tracing_on
echo > $T/kprobe_events
echo > $T/error_log 2>/dev/null
while read -r line; do
	case "$line" in ''|'#'*) continue ;; esac
	name=${line%% *}
	name=${name#*:}
	if echo "$line" >> $T/kprobe_events 2>/dev/null; then
		out "probe-ok $name"
	else
		out "probe-fail $name $(tail -n 3 $T/error_log 2>/dev/null | tr '\n' ' ')"
	fi
done < /probes/kprobes.txt

echo 32768 > $T/buffer_size_kb
echo 1 > $T/options/record-tgid
if [ -d $T/events/rmap ]; then
	echo 1 > $T/events/rmap/enable && out "event-ok rmap/*" || out "event-fail rmap/* enable"
fi
while read -r ev; do
	case "$ev" in ''|'#'*) continue ;; esac
	if [ -e $T/events/$ev/enable ] && echo 1 > $T/events/$ev/enable 2>/dev/null; then
		out "event-ok $ev"
	else
		out "event-fail $ev"
	fi
done < /probes/events.txt
out "buffer_size_kb $(cat $T/buffer_size_kb)"

echo > $T/trace
echo 1 > $T/tracing_on
t0=$(cut -d' ' -f1 /proc/uptime)
/wl/workload
rc=$?
echo 0 > $T/tracing_on
t1=$(cut -d' ' -f1 /proc/uptime)
out "workload-exit $rc"
out "workload-time $t0 $t1"
for c in $T/per_cpu/cpu*; do
	out "stats $(basename $c) $(tr '\n' ';' < $c/stats)"
done

cat $T/trace | gzip -9 > /tmp/trace.gz
n=$(wc -c < /tmp/trace.gz)
h=$(sha256sum /tmp/trace.gz | cut -d' ' -f1)
out "trace-begin len=$n sha256=$h"
cat /tmp/trace.gz >&3
echo >&3
out "trace-end"
out "done"
exec 3>&-
sleep 1
poweroff -f
