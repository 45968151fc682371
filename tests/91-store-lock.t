#!/bin/bash
# 91-store-lock.t — one daemon writes a store: a second read-write esfs on
# the same store is refused with a clear line and nothing mounted; a
# read-only mount beside the writer works and sees its appends at once; a
# writer killed with SIGKILL leaves neither its lock nor its reader slots
# in the way of the next one.
. "$(dirname "$0")/lib.sh"

M2=$T/mnt2
mkdir -p "$M2"
second=
stop_second() {
	if [ -n "$second" ]; then
		fusermount3 -u "$M2" 2>/dev/null
		wait "$second" 2>/dev/null
		second=
	fi
}
trap 'stop_second; _cleanup' EXIT

mount_esfs || { ok 1 "esfs mounts"; done_testing; }
mkdir "$M/streams/S"
is "$(append "$M/streams/S/new" $'Expected-Version: 0\nEvent-Type: T\n\n{"n":1}')" ok "an append"

err=$("$ESFS" -f "$STORE" "$M2" 2>&1)
rc=$?
ok $((rc == 0)) "a second read-write esfs on the same store exits non-zero"
like "$err" "served already by another esfs \(pid $PID\)" "... saying who serves it: $err"
is "$(printf '%s\n' "$err" | wc -l)" 1 "... in one line"
ok $(mountpoint -q "$M2"; echo $((! $?))) "... and mounts nothing"
is "$(cat "$M/streams/S/$(pad 1)" | jq -c .data)" '{"n":1}' "the first one still serves"
ok $([ -f "$STORE/esfs.lock" ]; echo $?) "the refused one left the first one's lock file in place"
err=$("$ESFS" -f "$STORE" "$M2" 2>&1)
rc=$?
ok $((rc == 0)) "a third read-write esfs is refused too"
like "$err" "served already by another esfs \(pid $PID\)" "... naming the same pid"
ok $(mountpoint -q "$M2"; echo $((! $?))) "... and mounts nothing"

"$ESFS" -f -o ro "$STORE" "$M2" 2>>"$LOG" &
second=$!
for i in $(seq 1 100); do [ -d "$M2/streams" ] && break; sleep 0.05; done
ok $([ -d "$M2/streams/S" ]; echo $?) "a read-only mount beside the writer works"
is "$(cat "$M2/streams/S/$(pad 1)")" "$(cat "$M/streams/S/$(pad 1)")" "... with the same bytes"
is "$(ls "$M2/streams/S")" "$(pad 1)
new" "... and lists the stream"
is "$(append "$M/streams/S/new" $'Expected-Version: 1\nEvent-Type: T\n\n{"n":2}')" ok "the writer appends again"
is "$(ls "$M2/all" | wc -l)" 2 "the read-only mount lists the new event at once"
is "$(jq -c .data "$M2/streams/S/$(pad 2)")" '{"n":2}' "... and reads it"
stop_second

# A writer killed in the middle of reads: the next one starts and writes.
( for i in $(seq 1 200); do cat "$M"/all/* > /dev/null 2>&1; done ) &
reader=$!
sleep 0.2
kill_esfs
wait "$reader" 2>/dev/null
mount_esfs
ok $? "after SIGKILL, a new writer starts on the store"
is "$(append "$M/streams/S/new" $'Expected-Version: 2\nEvent-Type: T\n\n{"n":3}')" ok "... and appends"
is "$(ls "$M/streams/S" | wc -l)" 4 "... with nothing lost"
unmount_esfs
ok $? "unmounts cleanly"
done_testing
