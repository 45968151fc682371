#!/bin/bash
# 85-remount.t — an unmount and a remount keep everything: the same bytes in
# all/ and in every stream, the same inode numbers for events, `new` files
# and stream directories, the same sizes, modes and times; a read-only mount
# (-o ro) reads the same and refuses every write with EROFS ("Read-only file
# system") while changing nothing.
. "$(dirname "$0")/lib.sh"

# msg EXPECTED TYPE DATA: a single-event append message
msg() {
	printf 'Expected-Version: %s\nEvent-Type: %s\n\n%s' "$1" "$2" "$3"
}

# state: what must not change across a remount (run in $M)
inodes() {
	(cd "$M" && stat -c '%i %n' streams/*/* all/*)
}
dir_inodes() {
	(cd "$M" && stat -c '%i %n' streams/*)
}
attrs() {
	(cd "$M" && stat -c '%s %a %h %Y %n' streams/*/0* all/*)
}
contents() {
	local s
	echo "all $(cat "$M"/all/* | sha256sum)"
	for s in $(ls "$M/streams"); do
		echo "$s $(cat "$M/streams/$s"/* | sha256sum)"
	done
	echo "snapshots $(cat "$M"/snapshots/* | sha256sum)"
	echo "checkpoints $(grep -H . "$M"/checkpoints/* | sha256sum)"
	echo "listing $(ls -R "$M" | sha256sum)"
}
save() {
	inodes > "$T/$1.inodes"
	dir_inodes > "$T/$1.dirs"
	attrs > "$T/$1.attrs"
	contents > "$T/$1.contents"
}

mount_esfs
ok $? "mounted"

for s in Order-1 Order-2 Customer-9 Empty-1; do mkdir "$M/streams/$s"; done
acks=0
for i in $(seq 1 30); do
	s=Order-$((i % 2 + 1))
	[ $((i % 5)) -eq 0 ] && s=Customer-9
	[ "$(append "$M/streams/$s/new" "$(msg any Happened "{\"i\":$i}")")" = ok ] && acks=$((acks + 1))
done
[ "$(append "$M/streams/Order-1/new" 'Expected-Version: any

[{"event_type":"A","data":{"x":1}},{"event_type":"B","data":{"x":2}}]')" = ok ] && acks=$((acks + 2))
is "$acks" 32 "32 events appended"
is "$(append "$M/snapshots/Order-1" 'Version: 5

{"total":5}')" ok "a snapshot is written"
is "$(append "$M/checkpoints/reader" 20)" ok "a checkpoint is written"
sleep 1.1	# so that a time made up at mount could not match a commit time

save before
is "$(wc -l < "$T/before.inodes")" $((32 * 2 + 4)) "32 events under two names and four new files"

unmount_esfs
ok $? "unmounts cleanly"
mountpoint -q "$M"
ok $((! $?)) "nothing is mounted"

mount_esfs
ok $? "remounted"
save after
is "$(cat "$T/after.contents")" "$(cat "$T/before.contents")" \
	"the same bytes in all/, every stream, snapshots, checkpoints and listings"
is "$(cat "$T/after.inodes")" "$(cat "$T/before.inodes")" \
	"the same inode numbers for every event and new file"
is "$(cat "$T/after.dirs")" "$(cat "$T/before.dirs")" "the same inode numbers for the stream directories"
is "$(cat "$T/after.attrs")" "$(cat "$T/before.attrs")" \
	"the same sizes, modes, link counts and times for every event"
bad=0
for f in "$M"/all/*; do
	e=$(jq -r '"\(.stream_id)/\(.version)"' < "$f")
	[ "$(stat -c %i "$f")" = "$(stat -c %i "$M/streams/${e%/*}/$(pad "${e#*/}")")" ] || bad=1
done
ok $bad "after the remount each event's two names are still one inode"
is "$(append "$M/streams/Order-2/new" "$(msg any After '{"after":1}')")" ok \
	"appends work after the remount"
is "$(ls "$M/all" | tail -n 1)" "$(pad 33)" "the next append takes global position 33"

# ---- read-only

save rw
unmount_esfs
ok $? "unmounts cleanly before the read-only mount"
mount_esfs -o ro
ok $? "mounted with -o ro"
save ro
is "$(cat "$T/ro.contents")" "$(cat "$T/rw.contents")" "read-only: everything reads the same"
is "$(cat "$T/ro.inodes")" "$(cat "$T/rw.inodes")" "read-only: the same inode numbers"
is "$(cat "$M/snapshots/Order-1" | jq -c .data)" '{"total":5}' "read-only: the snapshot reads"
is "$(cat "$M/checkpoints/reader")" 20 "read-only: the checkpoint reads"

EROFS="Read-only file system"
is "$(append "$M/streams/Order-1/new" "$(msg any Nope '{}')")" "$EROFS" "read-only: append with Expected-Version: any"
is "$(append "$M/streams/Order-1/new" "$(msg 14 Nope '{}')")" "$EROFS" "read-only: append with the right expected version"
is "$(append "$M/streams/Empty-1/new" "$(msg 0 Nope '{}')")" "$EROFS" "read-only: first append to an empty stream"
is "$(try mkdir "$M/streams/New-1")" "$EROFS" "read-only: mkdir of a stream"
is "$(try rmdir "$M/streams/Empty-1")" "$EROFS" "read-only: rmdir of an empty stream"
is "$(try bash -c 'echo 5 > "$1"' _ "$M/checkpoints/x")" "$EROFS" "read-only: echo > a new checkpoint"
is "$(try bash -c 'echo 5 > "$1"' _ "$M/checkpoints/reader")" "$EROFS" "read-only: echo > an existing checkpoint"
is "$(append "$M/snapshots/Order-1" 'Version: 6

{"total":6}')" "$EROFS" "read-only: snapshot write"
is "$(append "$M/snapshots/Order-2" 'Version: 1

{"total":1}')" "$EROFS" "read-only: a new snapshot"
is "$(try rm "$M/checkpoints/reader")" "$EROFS" "read-only: rm of a checkpoint"
is "$(try rm "$M/snapshots/Order-1")" "$EROFS" "read-only: rm of a snapshot"

save ro2
is "$(cat "$T/ro2.contents")" "$(cat "$T/rw.contents")" "read-only: the refused writes changed nothing"
ok $([ -d "$M/streams/Empty-1" ] && [ ! -e "$M/streams/New-1" ] && [ ! -e "$M/checkpoints/x" ]; echo $?) \
	"read-only: no stream or checkpoint appeared or disappeared"

unmount_esfs
ok $? "the read-only mount unmounts cleanly"
mount_esfs
ok $? "mounted read-write again"
save rw2
is "$(cat "$T/rw2.contents")" "$(cat "$T/rw.contents")" "read-write again: the same bytes"
is "$(cat "$T/rw2.inodes")" "$(cat "$T/rw.inodes")" "read-write again: the same inode numbers"
is "$(append "$M/streams/Empty-1/new" "$(msg 0 Finally '{}')")" ok "read-write again: appends work"

unmount_esfs
ok $? "unmounts cleanly at the end"

done_testing
