#!/bin/bash
# 65-feed.t — feed/N: every event after global position N in one file, in
# order, one line each, for logs too long for a glob. It grows like a
# regular file: its size is the bytes of those events up to the head now, a
# read ends at the head of that read, and reads at any offset seek; so
# tail -n, tail -c and tail -f work on it. feed/ lists nothing, so cp -a
# copies it empty.
. "$(dirname "$0")/lib.sh"

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

is "$(ls -A "$M/feed")" "" "feed/ lists nothing"
is "$(cat "$M/feed/0")" "" "feed/0 of an empty store is empty"

# 3,000 events in batches over two streams, a single one in between.
mkdir "$M/streams/A" "$M/streams/B"
for b in $(seq 1 6); do
	s=A; [ $((b % 2)) -eq 0 ] && s=B
	{
		printf 'Expected-Version: any\n\n['
		for i in $(seq 1 500); do
			[ "$i" -gt 1 ] && printf ','
			printf '{"event_type":"T","data":{"b":%d,"i":%d,"pad":"%s"}}' "$b" "$i" xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
		done
		printf ']\n'
	} > "$T/batch"
	is "$(try bash -c 'cat "$1" > "$2"' _ "$T/batch" "$M/streams/$s/new")" ok "batch $b of 500 events"
done

is "$(cat "$M/feed/0" | sha256sum)" "$(cat "$M"/all/* | sha256sum)" "feed/0 is exactly cat all/*"
is "$(cat "$M/feed/0" | jq -r .global_position | awk '$1 != NR { print "gap at " NR; exit }' )" "" \
	"... in order, positions 1..3000 with no gap"
is "$(cat "$M/feed/0" | wc -l)" 3000 "... 3000 lines"
is "$(cat "$M/feed/2990" | jq -r .global_position | tr '\n' ' ')" \
	"2991 2992 2993 2994 2995 2996 2997 2998 2999 3000 " "feed/2990 is the events after 2990"
is "$(cat "$M/feed/3000")" "" "feed/HEAD is empty"
is "$(cat "$M/feed/99999")" "" "feed/N past the head is empty"
is "$(head -n 3 "$M/feed/100" | jq -r .global_position | tr '\n' ' ')" "101 102 103 " \
	"head -n 3 feed/100 is 101..103"
head -n 1 "$M/feed/100" > /dev/null
ok $? "head exits 0 (it seeks back, and feed files seek)"
is "$(tail -n 1 "$M/feed/0" | jq -r .global_position)" 3000 "tail -n 1 feed/0 is the last event"
is "$(dd if="$M/feed/0" bs=7 2>/dev/null | sha256sum)" "$(cat "$M/feed/0" | sha256sum)" \
	"read 7 bytes at a time, events cut anywhere, it is the same bytes"
size=$(cat "$M/feed/0" | wc -c)
is "$(dd if="$M/feed/0" bs=1000 skip=100 2>/dev/null | sha256sum)" \
	"$(cat "$M/feed/0" | tail -c $((size - 100000)) | sha256sum)" "dd skip= seeks forward"
ev=$(cat "$M/all/$(pad 1234)")
is "$(cat "$M/feed/1233" | head -n 1)" "$ev" "feed/1233 starts with event 1234, byte for byte"
is "$(cat "$M/feed/0001233" | head -n 1)" "$ev" "leading zeros name the same position"
is "$(try cat "$M/feed/x")" "No such file or directory" "feed/x does not exist"
is "$(try cat "$M/feed/-1")" "No such file or directory" "feed/-1 does not exist"

# Its size: the bytes of the events after N, as cat reads them.
is "$(stat -c %s "$M/feed/0")" "$size" "stat: feed/0's size is the bytes cat reads ($size)"
is "$(wc -c < "$M/feed/0")" "$size" "... and wc -c says so"
for n in 1 1233 2990 2999; do
	is "$(stat -c %s "$M/feed/$n")" "$(cat "$M/feed/$n" | wc -c)" "stat: feed/$n's size is the bytes cat reads"
done
is "$(stat -c %s "$M/feed/3000") $(stat -c %s "$M/feed/99999")" "0 0" "feed/HEAD and feed/N past the head: size 0"
is "$(stat -c %o "$M/feed/0")" 1048576 "feed/0's st_blksize is 1 MiB, the buffer cat reads it with"
is "$(strace -f -e trace=read -o "$T/cat.strace" cat "$M/feed/0" | wc -c)" "$size" \
	"cat reads the whole log ..."
like "$(grep -c ', 1048576) = ' "$T/cat.strace")" '^[1-9]' "... a mebibyte a read()"

# Reads at any offset: the bytes of cat from there. tail -c +K seeks to
# byte K - 1; K at an event's first byte, inside one, at its last, and at
# and past the end.
e1=$(stat -c %s "$M/all/$(pad 1)")
e1500=$(cat "$M/feed/1499" | head -n 1 | wc -c)
from1500=$(cat "$M/feed/0" | head -n 1499 | wc -c)
for k in 2 $e1 $((e1 + 1)) $((e1 + 2)) $((from1500 + 1)) $((from1500 + e1500)) \
		$((size - 1)) $size $((size + 1)) $((size + 2)); do
	is "$(tail -c +$k "$M/feed/0" | sha256sum)" "$(cat "$M/feed/0" | tail -c +$k | sha256sum)" \
		"tail -c +$k feed/0 is cat's bytes from byte $k"
done
is "$(tail -c 1000 "$M/feed/2000" | sha256sum)" "$(cat "$M/feed/2000" | tail -c 1000 | sha256sum)" \
	"tail -c 1000 feed/2000 is cat's last 1000 bytes"
is "$(tail -n 3 "$M/feed/0" | jq -r .global_position | tr '\n' ' ')" "2998 2999 3000 " \
	"tail -n 3 feed/0 is the last three events"
is "$(tail -n 3 "$M/feed/0")" "$(cat "$M/feed/0" | tail -n 3)" "... byte for byte"
# 300 reads at offsets in random order (forward and back, every kind of
# place in an event) give the bytes of cat there.
cat "$M/feed/0" > "$T/feed0"
is "$(python3 - "$M/feed/0" "$T/feed0" <<'PY'
import os, random, sys
want = open(sys.argv[2], "rb").read()
ends = [i + 1 for i, c in enumerate(want) if c == 10]
rnd = random.Random(65)
offs = [0, len(want) - 1, len(want), len(want) + 5] + ends[:20] + [e - 1 for e in ends[-20:]]
offs += [rnd.randrange(len(want)) for _ in range(300 - len(offs))]
rnd.shuffle(offs)
fd = os.open(sys.argv[1], os.O_RDONLY)
bad = [o for o in offs if os.pread(fd, 700, o) != want[o:o + 700]]
print("%d reads, %d wrong%s" % (len(offs), len(bad), (" at " + str(bad[:5])) if bad else ""))
PY
)" "300 reads, 0 wrong" "pread at 300 offsets in random order: cat's bytes at each"

# It grows: a stat right after an append shows the new size; an open file
# reads on to the head of each read, and at the end gets 0 bytes (EOF)
# until the next append.
exec 3< "$M/feed/2995"
is "$(append "$M/streams/A/new" $'Expected-Version: any\nEvent-Type: Late\n\n{}')" ok "an append after the open"
grown=$(stat -c %s "$M/feed/0")
is "$grown" $((size + $(stat -c %s "$M/all/$(pad 3001)"))) "feed/0 grew by the new event's bytes at once"
is "$(stat -c %s "$M/feed/3000")" "$(stat -c %s "$M/all/$(pad 3001)")" "feed/3000, empty before, holds it"
is "$(jq -r .global_position <&3 | tr '\n' ' ')" "2996 2997 2998 2999 3000 3001 " \
	"a feed opened before the append reads on to the new event"
is "$(cat <&3 | wc -c)" 0 "at its end a read gives 0 bytes (EOF)"
is "$(append "$M/streams/B/new" $'Expected-Version: any\nEvent-Type: Later\n\n{}')" ok "another append"
is "$(cat <&3)" "$(cat "$M/all/$(pad 3002)")" "the same open file then reads the new event from its end"
exec 3<&-
is "$(tail -n 1 "$M/feed/0" | jq -r .event_type)" Later "tail -n 1 sees the new event"

# tail -f follows the log: it prints the events appended after it started,
# and never finds the file truncated. Once polling every 0.1 s, once as
# typed (every 1 s).
wait_lines() {	# FILE N: up to 10 s for FILE to have N lines
	local i
	for i in $(seq 1 100); do
		[ "$(wc -l < "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
n=3002
for how in "-s 0.1 -f" "-f"; do
	timeout 60 tail $how "$M/feed/0" > "$T/tail.out" 2> "$T/tail.err" &
	tailpid=$!
	wait_lines "$T/tail.out" 10
	ok $? "tail $how feed/0 prints the last 10 events"
	for i in 1 2; do
		n=$((n + 1))
		is "$(append "$M/streams/A/new" $'Expected-Version: any\nEvent-Type: Followed\n\n{"n":'$n'}')" ok \
			"append $i while tail $how runs"
	done
	wait_lines "$T/tail.out" 12
	ok $? "tail $how prints the two new events"
	kill "$tailpid"
	wait "$tailpid" 2>/dev/null
	is "$(cat "$T/tail.out")" "$(cat "$M/feed/0" | tail -n 12)" \
		"... its output is the last 12 events, byte for byte"
	is "$(tail -n 2 "$T/tail.out" | jq -r .data.n | tr '\n' ' ')" "$((n - 1)) $n " "... the new ones last"
	is "$(grep -c truncated "$T/tail.err")" 0 "... and it never says 'file truncated'"
	[ -s "$T/tail.err" ] && diag "tail's stderr: $(cat "$T/tail.err")"
done

# Immutable, and not copied twice by cp -a.
is "$(try bash -c 'echo x > "$1"' _ "$M/feed/0")" "Permission denied" "feed files cannot be written"
is "$(try touch "$M/feed/new")" "Operation not permitted" "nothing can be created in feed/"
cp -a "$M/." "$T/copy"
ok $? "cp -a of the mount"
is "$(ls -A "$T/copy/feed")" "" "... copies feed/ empty"
is "$(diff -r "$M" "$T/copy" && echo same)" same "... and diff -r finds nothing"

unmount_esfs
ok $? "unmounts cleanly"
done_testing
