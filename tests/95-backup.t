#!/bin/bash
# 95-backup.t — backups with ordinary tools: `cp -a MOUNT/. DIR` and
# `rsync -aH MOUNT/ DIR/` exit 0 and make copies that `diff -r` finds equal
# to the mount, in which each event's two names (all/N and streams/S/V) are
# hard links to one file, and which keep modes (0444 for events), sizes and
# modification times.
. "$(dirname "$0")/lib.sh"

# msg EXPECTED TYPE DATA: a single-event append message
msg() {
	printf 'Expected-Version: %s\nEvent-Type: %s\n\n%s' "$1" "$2" "$3"
}

# files_stat DIR: mode, size and mtime of every file under DIR
files_stat() {
	(cd "$1" && find . -type f -print0 | sort -z | xargs -0 stat -c '%a %s %Y %n')
}

# dirs_stat DIR: mode and mtime of every directory under DIR
dirs_stat() {
	(cd "$1" && find . -mindepth 1 -type d -print0 | sort -z | xargs -0 stat -c '%a %Y %n')
}

# check_copy LABEL DIR: DIR is a faithful copy of the mount
check_copy() {
	local label=$1 dir=$2 f e s v want bad=0 links=0
	is "$(diff -r "$M" "$dir" 2>&1 | head -n 5)" "" "$label: diff -r finds nothing"
	is "$(ls "$dir/all" | wc -l)" "$nevents" "$label: all $nevents events are in the copy"
	for f in "$dir"/all/*; do
		e=$(jq -r '"\(.stream_id) \(.version)"' < "$f")
		s=${e% *}
		v=${e#* }
		if [ "$(stat -c %i "$f")" != "$(stat -c %i "$dir/streams/$s/$(pad "$v")")" ]; then
			bad=$((bad + 1))
			[ "$bad" -le 3 ] && diag "$label: ${f##*/} and streams/$s/$(pad "$v") are not one file"
		fi
		# Its names: streams/S/V, all/N, types/T/N and, when S has a
		# category, categories/C/N; the mount reports the same count.
		want=3
		case $s in -*) ;; *-*) want=4 ;; esac
		[ "$(stat -c %h "$f")" = "$want" ] || links=$((links + 1))
		[ "$(stat -c %h "$M/all/${f##*/}")" = "$want" ] || links=$((links + 1))
	done
	is "$bad" 0 "$label: all/N and streams/S/V of each event are hard links to one file"
	is "$links" 0 "$label: each event file is one file under all its names (all, streams, types, categories), and its link count is the mount's"
	is "$(stat -c %a "$dir"/all/* "$dir"/streams/*/0* | sort -u)" 444 "$label: event files have mode 444"
	is "$(files_stat "$dir")" "$(files_stat "$M")" "$label: modes, sizes and times of every file are kept"
	is "$(dirs_stat "$dir")" "$(dirs_stat "$M")" "$label: modes and times of every directory are kept"
	is "$(cat "$dir"/all/* | sha256sum)" "$all_sha" "$label: cat all/* gives the same bytes"
	is "$(cat "$dir/snapshots/Order-1" | jq -c .data)" '{"total":3}' "$label: the snapshot is in the copy"
	is "$(cat "$dir/checkpoints/projector")" 4 "$label: the checkpoint is in the copy"
	ok $([ -d "$dir/streams/Empty-1" ]; echo $?) "$label: the empty stream is in the copy"
}

mount_esfs
ok $? "mounted"

for s in Order-1 Order-2 Customer-7 Empty-1; do mkdir "$M/streams/$s"; done
acks=0
for i in 1 2 3; do
	[ "$(append "$M/streams/Order-1/new" "$(msg $((i - 1)) OrderLine "{\"line\":$i}")")" = ok ] && acks=$((acks + 1))
done
sleep 1.1	# so that the events do not all share one second
for i in 1 2; do
	[ "$(append "$M/streams/Customer-7/new" "$(msg any CustomerSeen "{\"seen\":$i}")")" = ok ] && acks=$((acks + 1))
done
[ "$(append "$M/streams/Order-2/new" 'Expected-Version: 0

[{"event_type":"OrderPlaced","data":{"n":1}},{"event_type":"OrderPaid","data":{"n":2},"metadata":{"by":"card"}}]')" = ok ] &&
	acks=$((acks + 2))
sleep 1.1
[ "$(append "$M/streams/Order-1/new" "$(msg 3 OrderShipped '{"carrier":"DHL"}')")" = ok ] && acks=$((acks + 1))
nevents=8
is "$acks" "$nevents" "$nevents events appended"
is "$(append "$M/snapshots/Order-1" 'Version: 3

{"total":3}')" ok "a snapshot is written"
is "$(append "$M/checkpoints/projector" 4)" ok "a checkpoint is written"
is "$(stat -c %Y "$M"/all/* | sort -u | wc -l)" 3 "the events carry three different commit times"
all_sha=$(cat "$M"/all/* | sha256sum)

# ---- cp -a

cp -a "$M/." "$T/copy" 2> "$T/cp.err"
is "$?" 0 "cp -a MOUNT/. DIR exits 0"
[ -s "$T/cp.err" ] && diag "cp: $(head -n 3 "$T/cp.err")"
check_copy "cp -a" "$T/copy"

# ---- rsync -aH

rsync -aH "$M/" "$T/rcopy/" 2> "$T/rsync.err"
is "$?" 0 "rsync -aH MOUNT/ DIR/ exits 0"
[ -s "$T/rsync.err" ] && diag "rsync: $(head -n 3 "$T/rsync.err")"
check_copy "rsync -aH" "$T/rcopy"

# the mount is unchanged by being copied
is "$(cat "$M"/all/* | sha256sum)" "$all_sha" "the mount reads the same after the copies"

unmount_esfs
ok $? "unmounts cleanly"

done_testing
