#!/bin/bash
# 67-subscriptions.t — subscriptions/NAME: a file that reads the events
# after checkpoint NAME, in global order, byte for byte as all/N, and at
# the head waits for the next append, for ever. Reads of any size (bash's
# read takes one byte at a time), Ctrl-C and kill -9 of a waiting reader,
# O_NONBLOCK, poll and select, a hundred readers waiting at once, a stopped
# reader that holds nobody up, a consumer that crashes and resumes at its
# checkpoint, and a read-only mount that wakes on another daemon's appends.
. "$(dirname "$0")/lib.sh"

M2=$T/mnt2
mkdir -p "$M2"
second=
pids=()
stop_all() {
	[ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2>/dev/null
	if [ -n "$second" ]; then
		fusermount3 -u -z "$M2" 2>/dev/null
		wait "$second" 2>/dev/null
		second=
	fi
}
trap 'stop_all; _cleanup' EXIT

# add STREAM N...: appends one event {"n":N} of type T per N; fails at once
add() {
	local s=$1 n
	shift
	for n in "$@"; do
		printf 'Expected-Version: any\nEvent-Type: T\n\n{"n":%d}\n' "$n" > "$M/streams/$s/new" || return 1
	done
}

# head_pos: the last global position
head_pos() {
	stat -c %s "$M/all"
}

# events FROM TO: the bytes of events FROM … TO, as all/ has them
events() {
	local p
	for p in $(seq "$1" "$2"); do
		cat "$M/all/$(pad "$p")"
	done
}

# lines FILE N: waits up to 30 s for FILE to have N lines; prints how many
lines() {
	local i n=0
	for i in $(seq 1 600); do
		n=$(wc -l 2>/dev/null < "$1" || echo 0)
		[ "$n" -ge "$2" ] && break
		sleep 0.05
	done
	echo "$n"
}

# waiting PID...: waits up to 30 s until each PID sleeps in a request to a
# FUSE filesystem (its read is parked in the daemon)
waiting() {
	local pid i
	for pid in "$@"; do
		for i in $(seq 1 600); do
			case $(cat "/proc/$pid/wchan" 2>/dev/null) in
			*fuse*|*request_wait*) break ;;
			esac
			sleep 0.05
		done
		case $(cat "/proc/$pid/wchan" 2>/dev/null) in
		*fuse*|*request_wait*) ;;
		*) return 1 ;;
		esac
	done
}

# follow NAME OUT [MOUNT]: moves checkpoint NAME to the head ($h) and
# starts a cat of MOUNT/subscriptions/NAME > OUT ($sp), waiting there
follow() {
	h=$(head_pos)
	echo "$h" > "$M/checkpoints/$1"
	cat "${3:-$M}/subscriptions/$1" > "$2" &
	sp=$!
	pids+=($sp)
	waiting $sp
}

# stop PID...: kills and reaps
stop() {
	kill -9 "$@" 2>/dev/null
	wait "$@" 2>/dev/null
	return 0
}

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

is "$(ls -A "$M/subscriptions")" "" "subscriptions/ lists nothing"
mkdir "$M/streams/A" "$M/streams/B"
add A 1 2 && add B 3
ok $? "three events"
is "$(stat -c '%A' "$M/subscriptions/first")" "-r--r--r--" \
	"subscriptions/NAME is a read-only file for any checkpoint name"
is "$(ls -A "$M/subscriptions")" "" "... and is still not listed"
is "$(ls "$M/checkpoints")" "" "... nor is a checkpoint made for it"

# ---- A cat receives what is there and what comes after it started.
cat "$M/subscriptions/first" > "$T/first.out" &
catpid=$!
pids+=($catpid)
is "$(lines "$T/first.out" 3)" 3 "cat of a subscription without a checkpoint gets every event"
waiting $catpid
ok $? "... then waits in read()"
add A 4 && add B 5
ok $? "two more appends"
is "$(lines "$T/first.out" 5)" 5 "... reach the waiting cat"
is "$(cat "$T/first.out")" "$(cat "$M"/all/*)" "... byte for byte as all/*, in order"
ok $(kill -0 $catpid 2>/dev/null; echo $?) "... which goes on waiting"
stop $catpid

# ---- It starts after the checkpoint.
echo 3 > "$M/checkpoints/c3"
is "$(timeout 20 bash -c 'IFS= read -r a; IFS= read -r b; printf "%s\n%s\n" "$a" "$b"' < "$M/subscriptions/c3")" \
	"$(events 4 5)" "subscriptions/c3 starts after checkpoint 3: events 4 and 5"
is "$(timeout 20 head -n 2 "$M/subscriptions/c3" 2>/dev/null)" "$(events 4 5)" \
	"head -n 2 prints them too (and says it cannot seek back: the file has no position)"
echo 5 > "$M/checkpoints/c5"
is "$(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    os.read(fd, 4096)
    print("data")
except BlockingIOError:
    print("EAGAIN")' "$M/subscriptions/c5")" EAGAIN "O_NONBLOCK at the head: EAGAIN at once"
is "$(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
sys.stdout.buffer.write(os.read(fd, 4096))' "$M/subscriptions/c3")" "$(events 4 5)" \
	"O_NONBLOCK with events to read: the events"

# Whole events: a read of 1000 bytes gets as many whole events as fit.
sizes=$(for p in 1 2 3 4 5; do stat -c %s "$M/all/$(pad $p)"; done)
fit=$(echo "$sizes" | awk '{ t += $1; if (t <= 1000) f = t } END { print f }')
is "$(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(len(os.read(fd, 1000)))' "$M/subscriptions/first")" "$fit" \
	"a read of 1000 bytes returns whole events only ($fit bytes)"
is "$(python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
out = b""
while len(out) < int(sys.argv[2]):
    out += os.read(fd, 7)
sys.stdout.buffer.write(out)' "$M/subscriptions/first" "$(events 1 5 | wc -c)")" "$(cat "$M"/all/*)" \
	"reads of 7 bytes cut events anywhere and give the same bytes"

# ---- while read, one byte at a time.
echo 5 > "$M/checkpoints/wr"
( while IFS= read -r line; do printf '%s\n' "$line" >> "$T/wr.out"; done < "$M/subscriptions/wr" ) &
wrpid=$!
pids+=($wrpid)
add A 6 7 8
is "$(lines "$T/wr.out" 3)" 3 "a while-read loop gets appends line by line"
is "$(cat "$T/wr.out")" "$(events 6 8)" "... the right lines"
add B 9
is "$(lines "$T/wr.out" 4)" 4 "... and the next one"
stop $wrpid

# ---- Ctrl-C and kill -9 of a reader waiting at the head.
echo "$(head_pos)" > "$M/checkpoints/idle"
timeout -s KILL 30 timeout -s INT 2 cat "$M/subscriptions/idle" > /dev/null
is $? 124 "timeout -s INT 2 cat at the head: SIGINT ends it (Ctrl-C works)"
follow idle /dev/null
{	# (bash reports the kill on stderr)
	kill -9 $sp
	timeout 30 tail --pid=$sp -f /dev/null
	ok $? "kill -9 ends a waiting cat"
	wait $sp
} 2>/dev/null

# ---- poll and select see readability after an append.
echo "$(head_pos)" > "$M/checkpoints/pl"
is "$(python3 -c '
import os, select, sys, threading
fd = os.open(sys.argv[1], os.O_RDONLY)
print("ready" if select.select([fd], [], [], 0)[0] else "idle")
def append():
    with open(sys.argv[2], "w") as f:
        f.write("Expected-Version: any\nEvent-Type: T\n\n{\"n\":10}\n")
threading.Timer(0.3, append).start()
print("ready" if select.select([fd], [], [], 30)[0] else "timeout")
print(os.read(fd, 65536).decode(), end="")
p = select.poll()
p.register(fd, select.POLLIN)
print("ready" if p.poll(0) else "idle")
threading.Timer(0.3, append).start()
print("ready" if p.poll(30000) else "timeout")
' "$M/subscriptions/pl" "$M/streams/A/new")" "idle
ready
$(events 10 10)
idle
ready" "select and poll: not readable at the head, readable after an append"
is "$(cat "$M/all/$(pad 11)" | jq -r .data.n)" 10 "... and poll saw the second append (event 11)"
python3 -c '
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
p = select.poll()
p.register(fd, select.POLLIN)
sys.exit(0 if p.poll(30000) and os.read(fd, 65536) else 1)' "$M/subscriptions/pl" &
p=$!
pids+=($p)
waiting $p
add B 12
timeout 30 tail --pid=$p -f /dev/null
wait $p
ok $? "poll() in another process wakes on an append"

# ---- Writing is refused; so is a bad name.
is "$(try bash -c 'echo 1 > "$1"' _ "$M/subscriptions/first")" "Permission denied" \
	"writing to a subscription: EACCES"
like "$(tail -n 1 "$LOG")" "subscriptions are read-only" "... with a log line"
is "$(try cat "$M/subscriptions/.x")" "Invalid argument" "a bad checkpoint name: EINVAL"
is "$(try touch "$M/subscriptions/y")" "Permission denied" "touch: EACCES"

# ---- A hundred readers wait at once; one append reaches them all.
h=$(head_pos)
echo "$h" > "$M/checkpoints/many"
many=()
for i in $(seq 1 100); do
	bash -c 'IFS= read -r l; printf "%s\n" "$l"' < "$M/subscriptions/many" > "$T/many.$i" &
	many+=($!)
done
pids+=("${many[@]}")
waiting "${many[@]}"
ok $? "100 readers wait at once"
is "$(timeout 30 cat "$M/streams/A/$(pad 1)" | wc -l)" 1 "... and the mount still serves others"
add A 13
ok $? "one append"
timeout 60 bash -c 'for p in "$@"; do tail --pid=$p -f /dev/null; done' _ "${many[@]}"
ok $? "... ends all 100 reads"
wait "${many[@]}" 2>/dev/null
same=0
for i in $(seq 1 100); do
	[ "$(cat "$T/many.$i")" = "$(events $((h + 1)) $((h + 1)))" ] && same=$((same + 1))
done
is $same 100 "... and each of them has the event"

# ---- A stopped reader holds nobody up.
follow stopped "$T/stopped.out"
kill -STOP $sp
okays=0
for i in $(seq 1 200); do
	add B "$((1000 + i))" && okays=$((okays + 1))
done
is $okays 200 "200 appends succeed while a subscriber is stopped"
is "$(wc -l < "$T/stopped.out")" 0 "... which has read none of them"
kill -CONT $sp
is "$(lines "$T/stopped.out" 200)" 200 "once continued it gets all 200"
is "$(cat "$T/stopped.out")" "$(events $((h + 1)) $((h + 200)))" "... the right ones, in order"
stop $sp

# ---- A consumer that crashes resumes at its checkpoint: at-least-once.
# It applies each event (appends its line to a log), then acknowledges it
# by writing its position to checkpoints/crashy.
consumer() {
	local line
	while IFS= read -r line; do
		printf '%s\n' "$line" >> "$T/applied"
		[[ $line =~ \"global_position\":([0-9]+) ]] || exit 1
		echo "${BASH_REMATCH[1]}" > "$M/checkpoints/crashy" || exit 1
	done < "$M/subscriptions/crashy"
}
h=$(head_pos)
echo "$h" > "$M/checkpoints/crashy"
: > "$T/applied"
consumer &
cp1=$!
pids+=($cp1)
( for i in $(seq 1 200); do add A "$i" || exit 1; done ) &
ap=$!
lines "$T/applied" 60 > /dev/null
kill -9 $cp1
wait $cp1 2>/dev/null
consumer &
cp2=$!
pids+=($cp2)
wait $ap
ok $? "200 appends while the consumer is killed with SIGKILL and restarted"
for i in $(seq 1 600); do
	[ "$(cat "$M/checkpoints/crashy")" = $((h + 200)) ] && break
	sleep 0.05
done
is "$(cat "$M/checkpoints/crashy")" $((h + 200)) "the restarted consumer acknowledges the last event"
stop $cp2
total=$(wc -l < "$T/applied")
uniq=$(sort -u "$T/applied" | wc -l)
is "$uniq" 200 "every event was applied (at least once)"
ok $((total - uniq > 1)) "... and at most one twice, the one in flight at the crash ($((total - uniq)))"
is "$(sort -u "$T/applied" | jq -r .global_position | sort -n | awk -v h="$h" '$1 != h + NR { print "gap at " NR; exit }')" \
	"" "... positions $((h + 1)) to $((h + 200)) with no gap"
is "$(sort -u "$T/applied" | jq -s 'map(.data.n) | add')" 20100 \
	"an idempotent apply, keyed by global_position, gives the exact total"
is "$(sort -u "$T/applied" | sort)" "$(events $((h + 1)) $((h + 200)) | sort)" "... of the events' exact bytes"

# ---- cp -a of the whole mount does not wait on subscriptions/.
timeout 120 cp -a "$M/." "$T/copy"
ok $? "cp -a of the mount finishes"
is "$(ls -A "$T/copy/subscriptions")" "" "... and copies subscriptions/ empty"
is "$(ls -A "$M/subscriptions")" "" "subscriptions/ still lists nothing"
rm -rf "$T/copy"

# ---- A read-only mount beside the writer wakes on the writer's appends.
"$ESFS" -f -o ro "$STORE" "$M2" 2>>"$LOG" &
second=$!
for i in $(seq 1 200); do [ -d "$M2/streams" ] && break; sleep 0.05; done
ok $([ -d "$M2/streams/A" ]; echo $?) "a read-only mount beside the writer"
is "$(try cat "$M2/subscriptions/unknown")" "No such file or directory" \
	"... a name without a checkpoint: ENOENT (it cannot make one)"
like "$(tail -n 1 "$LOG")" "read-only mount cannot make one" "... with a log line"
follow ro "$T/ro.out" "$M2"
ok $? "a subscriber waits on the read-only mount"
okays=0
for i in $(seq 1 30); do
	add B "$i" && okays=$((okays + 1))
	[ $((i % 10)) -eq 0 ] && sleep 0.3	# now and then it waits again
done
is $okays 30 "30 appends through the read-write mount"
is "$(lines "$T/ro.out" 30)" 30 "... reach the subscriber of the read-only mount"
is "$(cat "$T/ro.out")" "$(events $((h + 1)) $((h + 30)))" "... with the right events"
stop $sp
fusermount3 -u "$M2"
wait "$second"
ok $? "the read-only mount unmounts cleanly"
second=

is "$(python3 -c 'import os, sys
try:
    os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
    print("opened")
except OSError as e:
    print(os.strerror(e.errno))' "$M/subscriptions/direct")" "Invalid argument" \
	"opening a subscription with O_DIRECT is EINVAL"

# ---- A reader still waiting when the daemon stops gets an error, not a hang.
follow last /dev/null 2>/dev/null
kill -TERM "$PID"
timeout 30 tail --pid=$sp -f /dev/null
ok $? "SIGTERM to the daemon ends a waiting reader"
wait $sp 2>/dev/null
wait "$PID"
ok $? "... and the daemon exits cleanly"
PID=
fusermount3 -u "$M" 2>/dev/null
done_testing
