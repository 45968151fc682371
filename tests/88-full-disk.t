#!/bin/bash
# 88-full-disk.t — a real full disk: the store lives on a 24 MiB tmpfs that
# also holds a ballast file, and 8 KiB events (in batches of four, then one
# by one) are appended until a write fails. The failure must be ENOSPC ("No
# space left on device") with one log line; nothing may be half-stored (the
# events are exactly the acknowledged ones, with gapless versions and
# positions, each one line of JSON; a batch that failed stored none of its
# events); reads, snapshots and checkpoints keep working while the disk is
# full. Once the ballast is removed, appends work again and stay gapless,
# and after an unmount and a remount everything acknowledged is there.
. "$(dirname "$0")/lib.sh"

SMALL=$T/small
mkdir -p "$SMALL"

# The store is on the tmpfs, so the daemon must be gone before the tmpfs
# can be unmounted; then lib.sh's cleanup removes $T.
full_cleanup() {
	if mountpoint -q "$M" 2>/dev/null || [ -n "$PID" ]; then
		fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
		if [ -n "$PID" ]; then
			kill -9 "$PID" 2>/dev/null
			wait "$PID" 2>/dev/null
			PID=
		fi
	fi
	if mountpoint -q "$SMALL" 2>/dev/null; then
		umount "$SMALL" 2>/dev/null || umount -l "$SMALL" 2>/dev/null
	fi
	_cleanup
}
trap full_cleanup EXIT

mount -t tmpfs -o size=24m tmpfs "$SMALL"
ok $? "a 24 MiB tmpfs is mounted"
mountpoint -q "$SMALL" || done_testing
STORE=$SMALL/store
# lib.sh's watchdog kills the daemons of the store it knew ($T/store); this
# one replaces it with the same, for the store on the tmpfs.
start_watchdog
mount_esfs
ok $? "esfs mounted with its store on the tmpfs"
mountpoint -q "$M" || done_testing

S=$M/streams/Disk-1
mkdir "$S"

# put MESSAGE-FILE TARGET: writes the file in one write() (cat of a file of
# at most 128 KiB); prints ok or the error from the write or the close.
put() {
	try bash -c 'cat "$1" > "$2"' _ "$1" "$2"
}

PAYLOAD=$(head -c 8192 /dev/zero | tr '\0' x)
acked=0	# events acknowledged, which is also the stream's version
acked_ns=()	# the "n" of every acknowledged event, in order
next=0	# the next "n" to use; failed events' numbers are never reused

# append_events COUNT [SIZE]: appends COUNT events (COUNT 1: a single-event
# message, else a batch) with exact Expected-Version, each with data
# {"n":N,"p":"x..."} of SIZE bytes of payload (default 8 KiB); sets RES to
# ok or the error, and records what was acknowledged (so it must not run in
# a subshell).
append_events() {
	local count=$1 payload=${PAYLOAD:0:${2:-8192}} i ns=()
	{
		printf 'Expected-Version: %d\n' "$acked"
		if [ "$count" -eq 1 ]; then
			printf 'Event-Type: Filled\n\n{"n":%d,"p":"%s"}\n' "$next" "$payload"
			ns=("$next")
			next=$((next + 1))
		else
			printf '\n['
			for ((i = 0; i < count; i++)); do
				[ "$i" -gt 0 ] && printf ','
				printf '{"event_type":"Filled","data":{"n":%d,"p":"%s"}}' "$next" "$payload"
				ns+=("$next")
				next=$((next + 1))
			done
			printf ']\n'
		fi
	} > "$T/msg"
	RES=$(put "$T/msg" "$S/new")
	if [ "$RES" = ok ]; then
		acked=$((acked + count))
		acked_ns+=("${ns[@]}")
	fi
}

# check_stored WHEN: nothing half-stored — the events are exactly the
# acknowledged ones, in order, gapless, each one line of valid JSON.
check_stored() {
	local when=$1
	is "$(ls "$M/all" | wc -l)" "$acked" "$when: all/ holds exactly the $acked acknowledged events"
	is "$(ls "$S" | grep -c '^[0-9]')" "$acked" "$when: so does the stream"
	is "$(cat "$M"/all/* | wc -l)" "$acked" "$when: cat all/* gives one line per event"
	cat "$M"/all/* | jq -e . > /dev/null
	ok $? "$when: every event parses with jq"
	is "$(cat "$M"/all/* | jq -r .global_position | tr '\n' ' ')" "$(seq -s ' ' 1 "$acked") " \
		"$when: global positions 1..$acked, no gap"
	is "$(cat "$S"/* | jq -r .version | tr '\n' ' ')" "$(seq -s ' ' 1 "$acked") " \
		"$when: versions 1..$acked, no gap"
	is "$(cat "$M"/all/* | jq -r .data.n | tr '\n' ' ')" "${acked_ns[*]} " \
		"$when: the stored events are the acknowledged ones, in order"
	is "$(cat "$M"/all/* | jq -s 'all(.[]; (.data.p | length) as $l | $l == 1 or $l == 100 or $l == 8192)')" true \
		"$when: every payload is whole"
}

# new_log_lines SINCE: the log lines after line SINCE
new_log_lines() {
	tail -n +"$(($1 + 1))" "$LOG"
}

# ---- Before the disk fills. ------------------------------------------

append_events 1 1; is "$RES" ok "a first event"
is "$(append "$M/snapshots/Disk-1" 'Version: 1

{"s":1}')" ok "a snapshot at version 1"
is "$(append "$M/checkpoints/c" 1)" ok "a checkpoint at 1"

dd if=/dev/zero of="$SMALL/ballast" bs=1M count=12 status=none
ok $? "a 12 MiB ballast file on the tmpfs"
dd if=/dev/zero of="$SMALL/ballast2" bs=8k count=1 status=none
ok $? "and an 8 KiB one"
diag "free before filling: $(df --output=avail -k "$SMALL" | tail -n 1) KiB"

# ---- Fill it: batches of four 8 KiB events until one fails. -----------

err=
for ((k = 0; k < 2000; k++)); do
	before=$acked
	log_before=$(wc -l < "$LOG")
	append_events 4; res=$RES
	[ "$res" = ok ] || { err=$res; break; }
done
diag "$acked events acknowledged before a batch failed; free now: $(df --output=avail -k "$SMALL" | tail -n 1) KiB"
is "$err" "No space left on device" "a batch that does not fit fails with ENOSPC"
is "$(ls "$M/all" | wc -l)" "$before" "the failed batch stored none of its four events"
is "$(new_log_lines "$log_before" | wc -l)" 1 "the daemon logs one line for it"
like "$(new_log_lines "$log_before")" 'Disk-1.*\(ENOSPC\)$' "naming the stream and ENOSPC"

# ---- Then single 8 KiB events until one fails. ------------------------

err=
for ((k = 0; k < 500; k++)); do
	before=$acked
	log_before=$(wc -l < "$LOG")
	append_events 1; res=$RES
	[ "$res" = ok ] || { err=$res; break; }
done
diag "$((acked - before)) more single events acknowledged"
is "$err" "No space left on device" "a single event that does not fit fails with ENOSPC"
is "$(ls "$M/all" | wc -l)" "$before" "and stores nothing"
is "$(new_log_lines "$log_before" | wc -l)" 1 "the daemon logs one line for it"
like "$(new_log_lines "$log_before")" 'Disk-1.*\(ENOSPC\)$' "naming the stream and ENOSPC"

before=$acked
append_events 4; res=$RES
is "$res" "No space left on device" "another batch while the disk is full: ENOSPC"
is "$(ls "$M/all" | wc -l)" "$acked" "what is stored is what was acknowledged"

# ---- Nearly full: 8 KiB free, less than a batch needs. ----------------
# The store's writes then fill the disk part of the way; that is still a
# full disk (ENOSPC), not an I/O error.

rm -f "$SMALL/ballast2"
ok $? "8 KiB are freed"
err=
for ((k = 0; k < 100; k++)); do
	before=$acked
	log_before=$(wc -l < "$LOG")
	append_events 4; res=$RES
	[ "$res" = ok ] || { err=$res; break; }
done
diag "$((acked - before)) more events acknowledged; free now: $(df --output=avail -k "$SMALL" | tail -n 1) KiB"
is "$err" "No space left on device" "a batch that fits only in part fails with ENOSPC"
is "$(ls "$M/all" | wc -l)" "$before" "and stores none of its events"
like "$(new_log_lines "$log_before")" 'Disk-1.*\(ENOSPC\)$' "the log line names the stream and ENOSPC"
append_events 1; res=$RES
like "$res" '^(ok|No space left on device)$' "then a single event: done (it may fit) or ENOSPC"
is "$(ls "$M/all" | wc -l)" "$acked" "what is stored is what was acknowledged"

# ---- While full: reads, snapshots, checkpoints. -----------------------

check_stored "disk full"
ls "$M" "$M/all" "$S" "$M/snapshots" "$M/checkpoints" > /dev/null
ok $? "ls works on a full disk"
cat "$M"/all/* > /dev/null
ok $? "cat all/* works"
cat "$S"/* > /dev/null
ok $? "cat streams/Disk-1/* works"
is "$(jq -c '[.stream_id,.version,.data]' < "$M/snapshots/Disk-1")" '["Disk-1",1,{"s":1}]' \
	"the snapshot reads back"
is "$(cat "$M/checkpoints/c")" 1 "the checkpoint reads back"

res=$(append "$M/checkpoints/c" 2)
like "$res" '^(ok|No space left on device)$' "moving a checkpoint while full: done or ENOSPC"
[ "$res" = ok ] && want=2 || want=1
is "$(cat "$M/checkpoints/c")" "$want" "the checkpoint reads as what was acknowledged"

res=$(append "$M/snapshots/Disk-1" "Version: 2

{\"s\":2,\"p\":\"$PAYLOAD$PAYLOAD\"}")
like "$res" '^(ok|No space left on device)$' "a 16 KiB snapshot while full: done or ENOSPC"
[ "$res" = ok ] && want=2 || want=1
is "$(jq -r .version < "$M/snapshots/Disk-1")" "$want" "the snapshot reads as what was acknowledged"
kill -0 "$PID"
ok $? "the daemon is alive"

# ---- Free space: appends work again. ----------------------------------

rm -f "$SMALL/ballast"
ok $? "the ballast is removed"
diag "free after removing it: $(df --output=avail -k "$SMALL" | tail -n 1) KiB"
append_events 1; is "$RES" ok "a single 8 KiB event appends again"
append_events 4; is "$RES" ok "a batch of four 8 KiB events appends again"
append_events 1 100; is "$RES" ok "and a small one"
is "$(append "$M/checkpoints/c" "$acked")" ok "the checkpoint moves again"
is "$(append "$M/snapshots/Disk-1" "Version: $acked

{\"s\":3}")" ok "a snapshot is written again"
check_stored "space freed"

# ---- Remount: everything acknowledged is there. -----------------------

unmount_esfs
ok $? "unmounts cleanly"
mount_esfs
ok $? "mounts again"
check_stored "after a remount"
is "$(cat "$M/checkpoints/c")" "$acked" "the checkpoint is there"
is "$(jq -c '[.version,.data]' < "$M/snapshots/Disk-1")" "[$acked,{\"s\":3}]" "the snapshot is there"
append_events 1; is "$RES" ok "appends work after the remount"
is "$(ls "$M/all" | wc -l)" "$acked" "and are stored"
unmount_esfs
ok $? "unmounts cleanly"

umount "$SMALL"
ok $? "the tmpfs unmounts"
done_testing
