#!/bin/bash
# 40-immutable.t — nothing stored can be changed through the tree: writes,
# appends, truncation, rename, unlink, chmod, chown and touch of event files
# fail (EPERM or EACCES) and change no byte and no name; nothing but new,
# mkdir and rmdir of an empty stream can be created or removed under
# streams/, nothing under all/, nothing at the root.
. "$(dirname "$0")/lib.sh"

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

S=$M/streams/Imm-1
mkdir "$S"
is "$(append "$S/new" 'Expected-Version: 0

[{"event_type":"A","data":{"n":1}},{"event_type":"B","data":{"n":2}},{"event_type":"C","data":{"n":3}}]')" \
	ok "three events to protect"
E=$S/$(pad 2)
G=$M/all/$(pad 2)

# state: every name, mode, size and time in the tree, and every event's bytes
state() {
	(cd "$M" && ls -lAR --time-style=full-iso . && sha256sum streams/*/0* all/*) | sha256sum
}
before=$(state)
sum=$(sha256sum < "$E")
EPERM="Operation not permitted"
EPERM_OR_EACCES='^(Operation not permitted|Permission denied)$'

# refused NAME WANT CMD...: CMD fails with WANT (a regex when it starts
# with ^) and the tree is unchanged
refused() {
	local name=$1 want=$2 got
	shift 2
	got=$(try "$@")
	if [ "${want:0:1}" = "^" ]; then
		like "$got" "$want" "$name fails ($got)"
	else
		is "$got" "$want" "$name fails with $want"
	fi
	is "$(state)" "$before" "$name changes nothing"
}

# ---- Event files. -----------------------------------------------------

refused "echo x > event" "Permission denied" bash -c 'echo x > "$1"' _ "$E"
refused "echo x >> event" "Permission denied" bash -c 'echo x >> "$1"' _ "$E"
refused "echo x > all/event" "Permission denied" bash -c 'echo x > "$1"' _ "$G"
refused "echo x > plain-number name" "Permission denied" bash -c 'echo x > "$1"' _ "$S/2"
refused "truncate -s 0 event" "$EPERM_OR_EACCES" truncate -s 0 "$E"
refused "truncate -s 0 all/event" "$EPERM_OR_EACCES" truncate -s 0 "$G"
refused "truncate -s 1M event" "$EPERM_OR_EACCES" truncate -s 1M "$E"
refused "mv event (rename in the stream)" "$EPERM" mv "$E" "$S/renamed"
refused "mv event over another event" "$EPERM" mv -f "$E" "$S/$(pad 1)"
refused "mv all/event" "$EPERM" mv "$G" "$M/all/$(pad 9)"
refused "mv event out of the mount" "^(Operation not permitted|Permission denied|Invalid cross-device link)$" \
	mv "$E" "$T/out"
rm -f "$T/out"	# mv copies across file systems, then fails to remove the event
refused "rm event in streams/S" "$EPERM" rm -f "$E"
refused "rm event in all/" "$EPERM" rm -f "$G"
refused "rm plain-number name" "$EPERM" rm -f "$M/all/2"
refused "chmod 644 event" "$EPERM" chmod 644 "$E"
refused "chmod 444 event (the same mode)" "$EPERM" chmod 444 "$E"
refused "chown event" "$EPERM" chown 1:1 "$E"
refused "chown event to its owner" "$EPERM" chown "$(id -u):$(id -g)" "$E"
refused "touch event" "$EPERM_OR_EACCES" touch "$E"
refused "touch -d event" "$EPERM_OR_EACCES" touch -d 2000-01-01 "$E"
refused "touch -c -m event" "$EPERM_OR_EACCES" touch -c -m "$E"
refused "ln event in the stream" "$EPERM" ln "$E" "$S/link"
refused "ln event in all/" "$EPERM" ln "$E" "$M/all/$(pad 9)"
refused "ln -s in the stream" "$EPERM" ln -s "$E" "$S/symlink"
is "$(sha256sum < "$E")" "$sum" "the event's bytes are unchanged after all of it"
is "$(stat -c '%a %h %s' "$E")" "444 4 $(wc -c < "$E")" "and its mode, links (all, streams, types, categories) and size"

# ---- new, and creating or removing anything else. ---------------------

refused "rm streams/S/new" "$EPERM" rm -f "$S/new"
refused "chmod new" "$EPERM" chmod 600 "$S/new"
refused "truncate -s 5 new" "$EPERM_OR_EACCES" truncate -s 5 "$S/new"
refused "ln new" "$EPERM" ln "$S/new" "$S/new2"
refused "create a file in streams/S" "$EPERM" bash -c ': > "$1"' _ "$S/x"
refused "create a padded name in streams/S" "$EPERM" bash -c 'echo {} > "$1"' _ "$S/$(pad 4)"
refused "touch a file in streams/S" "$EPERM" touch "$S/y"
refused "cp a file into streams/S" "$EPERM" cp /etc/hostname "$S/"
refused "create a file in streams/" "$EPERM" bash -c ': > "$1"' _ "$M/streams/file"
refused "create a file in all/" "$EPERM" bash -c ': > "$1"' _ "$M/all/x"
refused "create an event name in all/" "$EPERM" bash -c 'echo {} > "$1"' _ "$M/all/$(pad 4)"
refused "create a file at the root" "$EPERM" bash -c ': > "$1"' _ "$M/file"
refused "mkfifo in streams/S" "$EPERM" mkfifo "$S/fifo"
refused "mkdir in all/" "$EPERM" mkdir "$M/all/d"
refused "mkdir in streams/S" "$EPERM" mkdir "$S/d"
refused "mkdir at the root" "$EPERM" mkdir "$M/d"
refused "rmdir all" "^(Operation not permitted|Permission denied|Device or resource busy)$" rmdir "$M/all"
refused "rmdir streams" "^(Operation not permitted|Permission denied|Device or resource busy|Directory not empty)$" rmdir "$M/streams"
refused "rmdir a stream with events" "Directory not empty" rmdir "$S"
refused "rm -rf a stream" "$EPERM" rm -rf "$S"
refused "rm -rf all" "$EPERM" rm -rf "$M/all"
refused "mv a stream dir" "$EPERM" mv "$S" "$M/streams/Imm-2"
refused "mv all" "$EPERM" mv "$M/all" "$M/all2"
refused "chmod all" "$EPERM" chmod 755 "$M/all"
refused "chmod a stream" "$EPERM" chmod 700 "$S"

is "$(ls "$S" | tr '\n' ' ')" "$(pad 1) $(pad 2) $(pad 3) new " "the stream still lists its events and new"
is "$(cat "$S"/* | jq -r .data.n | tr '\n' ' ')" "1 2 3 " "and reads back unchanged"
is "$(append "$S/new" 'Expected-Version: 3
Event-Type: D

{"n":4}')" ok "appending through new still works"
is "$(cat "$M/all/"* | jq -r .data.n | tr '\n' ' ')" "1 2 3 4 " "all/ has the four events"
is "$(sha256sum < "$E")" "$sum" "the old event's bytes never changed"

unmount_esfs
ok $? "unmounts cleanly"
done_testing
