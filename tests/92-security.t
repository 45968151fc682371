#!/bin/bash
# 92-security.t — who may do what, and where names lead: (a) mounted by
# root without -o allow_other, user nobody can neither list nor read
# anything (EACCES); (b) with -o allow_other, nobody can list and read
# events, but the kernel enforces the modes (0644/0755, owned by root), so
# appending, writing a snapshot or a checkpoint, mkdir of a stream and rm of
# a checkpoint all get EACCES while root can still do each; (c) '..' in a
# path resolves as the kernel does and cannot create anything outside its
# directory; (d) with -o ro every kind of write gets EROFS (85-remount.t
# covers that fully).
. "$(dirname "$0")/lib.sh"

EACCES="Permission denied"
EROFS="Read-only file system"

# as_nobody CMD...: runs CMD as user nobody, group nogroup, no other groups
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
# nobody_sh SCRIPT: runs a shell script as nobody; prints ok or the error
nobody_sh() {
	try as_nobody sh -c "$1"
}

# The mountpoint's parents must be traversable by nobody ($T is 0700).
chmod 755 "$T"
is "$(as_nobody stat -c %F "$T")" directory "nobody can reach the test directory"

mount_esfs || { ok 1 "esfs mounts"; done_testing; }
ok 0 "mounted by root, without allow_other"
S=$M/streams/Sec-1
mkdir "$S" "$M/streams/Empty-1"
is "$(append "$S/new" 'Expected-Version: 0
Event-Type: Made

{"secret":1}')" ok "an event"
is "$(append "$M/snapshots/Sec-1" 'Version: 1

{"s":1}')" ok "a snapshot"
is "$(append "$M/checkpoints/cp" 1)" ok "a checkpoint"

# state: everything a refused request must leave alone
state() {
	(cd "$M" && ls -R . && cat all/* && grep -r . snapshots checkpoints) | sha256sum
}

# ---- (a) Without allow_other, other users cannot use the mount. ---------

is "$(try as_nobody ls "$M")" "$EACCES" "nobody: ls of the mountpoint: EACCES"
is "$(try as_nobody cat "$S/1")" "$EACCES" "nobody: cat of an event: EACCES"
is "$(try as_nobody cat "$M/all/1")" "$EACCES" "nobody: cat all/1: EACCES"
is "$(try as_nobody stat "$M/streams")" "$EACCES" "nobody: stat of streams/: EACCES"
is "$(nobody_sh "printf 'Expected-Version: any\nEvent-Type: X\n\n{}' > '$S/new'")" "$EACCES" \
	"nobody: an append: EACCES"
is "$(ls "$M/all" | wc -l)" 1 "root still reads: one event"
unmount_esfs
ok $? "unmounts"

# ---- (b) With allow_other, the kernel enforces the modes. -------------

mount_esfs -o allow_other || { ok 1 "mounts with allow_other"; done_testing; }
ok 0 "mounted with -o allow_other"
is "$(stat -c '%a %U' "$S/new" "$M/checkpoints/cp" "$M/snapshots/Sec-1" | sort -u)" "644 root" \
	"new, the checkpoint and the snapshot are 0644, owned by root"
is "$(stat -c '%a %U' "$M/streams" "$M/checkpoints" "$M/snapshots" | sort -u)" "755 root" \
	"streams/, checkpoints/ and snapshots/ are 0755, owned by root"

is "$(as_nobody ls "$M" | tr '\n' ' ')" "all categories checkpoints feed snapshots streams subscriptions types " "nobody: ls of the mountpoint"
is "$(as_nobody ls "$S" | tr '\n' ' ')" "$(pad 1) new " "nobody: ls of a stream"
is "$(as_nobody cat "$S/1" | jq -c .data)" '{"secret":1}' "nobody: cat of an event"
is "$(as_nobody sh -c "cat '$M'/all/*" | jq -r .global_position)" 1 "nobody: cat all/*"
is "$(as_nobody cat "$M/snapshots/Sec-1" | jq -r .version)" 1 "nobody: reads the snapshot"
is "$(as_nobody cat "$M/checkpoints/cp")" 1 "nobody: reads the checkpoint"
is "$(as_nobody /usr/bin/python3 -c 'import os, sys; os.close(os.open(sys.argv[1], os.O_RDONLY)); print("opened")' \
	"$M/subscriptions/cp")" opened "nobody: opens the subscription of an existing checkpoint"
is "$(try as_nobody stat "$M/subscriptions/nobodys-new-name")" "No such file or directory" \
	"nobody: a subscription without a checkpoint is ENOENT (only the mounting user starts one)"

before=$(state)
is "$(nobody_sh "printf 'Expected-Version: any\nEvent-Type: X\n\n{}' > '$S/new'")" "$EACCES" \
	"nobody: appending to streams/S/new: EACCES"
is "$(nobody_sh "printf '[{\"event_type\":\"X\",\"data\":{}}]' > '$S/new'")" "$EACCES" \
	"nobody: a batch: EACCES"
is "$(nobody_sh "echo 1 > '$M/checkpoints/cp'")" "$EACCES" "nobody: moving a checkpoint: EACCES"
is "$(nobody_sh "echo 1 > '$M/checkpoints/mine'")" "$EACCES" "nobody: creating a checkpoint: EACCES"
is "$(nobody_sh "printf 'Version: 1\n\n{}' > '$M/snapshots/Sec-1'")" "$EACCES" \
	"nobody: replacing a snapshot: EACCES"
is "$(nobody_sh "rm -f '$M/snapshots/Sec-1'")" "$EACCES" "nobody: rm of a snapshot: EACCES"
is "$(try as_nobody mkdir "$M/streams/Nobody-1")" "$EACCES" "nobody: mkdir in streams/: EACCES"
is "$(try as_nobody rmdir "$M/streams/Empty-1")" "$EACCES" "nobody: rmdir of an empty stream: EACCES"
is "$(try as_nobody rm -f "$M/checkpoints/cp")" "$EACCES" "nobody: rm of a checkpoint: EACCES"
is "$(try as_nobody truncate -s 0 "$M/checkpoints/cp")" "$EACCES" "nobody: truncating a checkpoint: EACCES"
is "$(try as_nobody chmod 666 "$M/checkpoints/cp")" "Operation not permitted" \
	"nobody: chmod of a checkpoint: EPERM"
is "$(state)" "$before" "none of them changed anything"

is "$(append "$S/new" 'Expected-Version: 1
Event-Type: Made

{"secret":2}')" ok "root: appends"
is "$(append "$M/checkpoints/cp" 2)" ok "root: moves the checkpoint"
is "$(append "$M/checkpoints/root" 1)" ok "root: creates a checkpoint"
is "$(append "$M/snapshots/Sec-1" 'Version: 2

{"s":2}')" ok "root: replaces the snapshot"
is "$(try mkdir "$M/streams/Root-1")" ok "root: mkdir in streams/"
is "$(try rmdir "$M/streams/Empty-1")" ok "root: rmdir of an empty stream"
is "$(try rm "$M/checkpoints/root")" ok "root: rm of a checkpoint"
is "$(cat "$S"/* | jq -c .data | tr '\n' ' ')" '{"secret":1} {"secret":2} ' "the stream holds root's events only"
is "$(ls "$M/checkpoints" | tr '\n' ' ')" "cp " "the checkpoints are root's"
is "$(as_nobody cat "$M/checkpoints/cp")" 2 "nobody sees root's changes"
unmount_esfs
ok $? "unmounts"

# ---- (c) Names cannot reach outside their directory. ------------------

mount_esfs || { ok 1 "mounts again"; done_testing; }
is "$(cat "$M/streams/../all/1")" "$(cat "$M/all/1")" 'streams/../all/1 is all/1, as the kernel resolves it'
is "$(cat "$S/../../all/2")" "$(cat "$M/all/2")" 'streams/S/../../all/2 is all/2'
is "$(ls "$M/streams/Sec-1/.." | tr '\n' ' ')" "$(ls "$M/streams" | tr '\n' ' ')" 'streams/S/.. lists streams/'
is "$(stat -c %i "$M/streams/..")" "$(stat -c %i "$M")" 'streams/.. is the root of the mount'
before=$(state)
is "$(try bash -c 'echo 1 > "$1"' _ "$M/checkpoints/../x")" "Operation not permitted" \
	'echo 1 > checkpoints/../x creates in the root: EPERM'
is "$(try bash -c 'echo 1 > "$1"' _ "$M/checkpoints/../checkpoints/../x")" "Operation not permitted" \
	'checkpoints/../checkpoints/../x: EPERM'
is "$(try bash -c 'printf "Version: 1\n\n{}" > "$1"' _ "$M/snapshots/../Sec-1")" "Operation not permitted" \
	'a snapshot written to snapshots/../Sec-1 creates in the root: EPERM'
is "$(try bash -c 'echo 1 > "$1"' _ "$M/checkpoints/../all/x")" "Operation not permitted" \
	'checkpoints/../all/x: EPERM'
is "$(try bash -c 'echo 1 > "$1"' _ "$M/checkpoints/../streams/x")" "Operation not permitted" \
	'checkpoints/../streams/x: EPERM'
is "$(try bash -c 'echo 1 > "$1"' _ "$M/checkpoints/..")" "Is a directory" \
	'a checkpoint named ..: it is the root directory'
is "$(try bash -c 'echo 1 > "$1"' _ "$M/checkpoints/.")" "Is a directory" \
	'a checkpoint named .: it is checkpoints/'
is "$(try mkdir "$M/streams/..")" "File exists" \
	'mkdir streams/.. fails'
is "$(try mkdir "$M/streams/.")" "File exists" \
	'mkdir streams/. fails'
is "$(try rmdir "$M/streams/..")" "Directory not empty" \
	'rmdir streams/.. fails'
is "$(try mkdir "$M/streams/../Esc-1")" "Operation not permitted" \
	'mkdir streams/../Esc-1 creates in the root: EPERM'
is "$(try mkdir "$M/streams/Sec-1/../../checkpoints/Esc-2")" "Operation not permitted" \
	'mkdir of a stream under checkpoints/ by way of ..: EPERM'
is "$(try mkdir "$M/streams/a..b")" ok 'a stream may have .. inside its name (a..b)'
is "$(try rmdir "$M/streams/a..b")" ok '... and is removed again'
is "$(state)" "$before" "the refused ones changed nothing"
is "$(ls "$M" | tr '\n' ' ')" "all categories checkpoints feed snapshots streams subscriptions types " "the root holds only its eight directories"
unmount_esfs
ok $? "unmounts"

# ---- (d) -o ro: every kind of write gets EROFS. ------------------------

mount_esfs -o ro || { ok 1 "mounts read-only"; done_testing; }
ok 0 "mounted with -o ro"
before=$(state)
is "$(append "$S/new" 'Expected-Version: any
Event-Type: X

{}')" "$EROFS" "read-only: an append: EROFS"
is "$(append "$M/checkpoints/cp" 1)" "$EROFS" "read-only: a checkpoint: EROFS"
is "$(append "$M/snapshots/Sec-1" 'Version: 1

{}')" "$EROFS" "read-only: a snapshot: EROFS"
is "$(try mkdir "$M/streams/Ro-1")" "$EROFS" "read-only: mkdir: EROFS"
is "$(try rm "$M/checkpoints/cp")" "$EROFS" "read-only: rm of a checkpoint: EROFS"
is "$(try rm "$M/snapshots/Sec-1")" "$EROFS" "read-only: rm of a snapshot: EROFS"
is "$(state)" "$before" "read-only: nothing changed"
unmount_esfs
ok $? "unmounts"
done_testing
