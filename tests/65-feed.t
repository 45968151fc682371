#!/bin/bash
# 65-feed.t — feed/N: every event after global position N in one file, in
# order, one line each, up to the head as it was at open; for logs too long
# for a glob. feed/ lists nothing, so cp -a copies it empty.
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

# The head as it was at open: an append during a read is not in it.
exec 3< "$M/feed/2995"
is "$(append "$M/streams/A/new" $'Expected-Version: any\nEvent-Type: Late\n\n{}')" ok "an append after the open"
is "$(jq -r .global_position <&3 | tr '\n' ' ')" "2996 2997 2998 2999 3000 " \
	"the open feed ends at the head it had at open"
exec 3<&-
is "$(tail -n 1 "$M/feed/0" | jq -r .event_type)" Late "a new open sees the new event"

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
