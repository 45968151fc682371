#!/bin/bash
# 93-pg-tools.t — esfsctl on a PostgreSQL store (check-pg runs it; without
# ESFS_TEST_PG it skips): `verify` is clean on a store made through a
# mount and reports, and exits 1 on, each fault put in the database with
# psql (a changed envelope, a wrong bytes_before, a stream's version off,
# a view's last position, a snapshot line, a checkpoint past the head, an
# envelope that is not JSON, a gap in the positions); `stats` prints the
# keys of a PostgreSQL store; `restore` of a cp -a copy into a fresh
# database mounts as the copy (diff -r), refuses a store that is not
# empty, and empties again what it imported when it fails; `migrate`
# local → PostgreSQL → local gives mounts diff -r finds equal, which
# verify finds clean, and refuses a destination that is not empty.
if [ -z "${ESFS_TEST_PG:-}" ]; then
	echo "1..0 # SKIP no PostgreSQL"
	exit 0
fi
. "$(dirname "$0")/lib.sh"
ESFSCTL=${ESFSCTL:-$TOP/bin/esfsctl}

# ctl ARGS...: esfsctl, stdout to $T/out, stderr to $T/err; its exit status.
ctl() {
	"$ESFSCTL" "$@" > "$T/out" 2> "$T/err"
	echo $?
}

# A database of the test's own besides lib.sh's, dropped at the end: its
# URI in the variable named $1.
_dbs=
new_db() {
	local name=${_db}_$1
	psql -q "$ESFS_TEST_PG" -c "CREATE DATABASE $name" >/dev/null || return 1
	_dbs="$_dbs $name"
	printf -v "$2" %s "${ESFS_TEST_PG/:\/\/\/esfs\?/:\/\/\/$name?}"
}
_more_mounts= _more_pids=
_drop_dbs() {
	local m d
	for m in $_more_mounts; do
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
	done
	[ -z "$_more_pids" ] || wait $_more_pids 2>/dev/null
	for d in $_dbs; do
		psql -q "$ESFS_TEST_PG" -c "DROP DATABASE $d WITH (FORCE)" >/dev/null
	done
}
trap '_drop_dbs; _cleanup' EXIT

# mount_at MOUNTPOINT STORE: another daemon, unmounted at the end.
mount_at() {
	local i
	mkdir -p "$1"
	_more_mounts="$_more_mounts $1"
	"$ESFS" -f "$2" "$1" 2>>"$LOG" &
	_more_pids="$_more_pids $!"
	for i in $(seq 1 200); do
		[ -d "$1/streams" ] && return 0
		sleep 0.05
	done
	return 1
}
unmount_at() {
	fusermount3 -u "$1"
}

# sql SQL...: runs statements on the test's store.
sql() {
	local s args=()
	for s in "$@"; do
		args+=(-c "$s")
	done
	psql -qAt "$STORE" "${args[@]}"
}

# ---- A store with a bit of everything, through a real mount.

mount_esfs || { ok 1 "esfs mounts"; done_testing; }
ODD="odd name's (1) & ü"
for s in Order-1 Customer-7 Empty-1 plain "$ODD"; do
	mkdir "$M/streams/$s"
done
acks=0
for i in 0 1 2; do
	[ "$(append "$M/streams/Order-1/new" "$(printf 'Expected-Version: %d\nEvent-Type: Placed\n\n{"i":%d}\n' $i $i)")" = ok ] &&
		acks=$((acks + 1))
done
[ "$(append "$M/streams/Customer-7/new" 'Expected-Version: 0
Correlation-Id: req-7

[{"event_type":"Seen","data":{"n":1e5}},{"event_type":"Paid","data":{"n":2.0},"metadata":{"by":"card"}}]')" = ok ] &&
	acks=$((acks + 2))
[ "$(append "$M/streams/$ODD/new" "$(printf 'Expected-Version: any\nEvent-Type: Odd type (1)\n\n%s\n' \
	'{"q":"\"quoted\" \\ \u00e9"}')")" = ok ] &&
	acks=$((acks + 1))
[ "$(append "$M/streams/plain/new" "$(printf 'Expected-Version: 0\nEvent-Type: Plain\n\n{}\n')")" = ok ] &&
	acks=$((acks + 1))
is "$acks" 7 "7 events appended"
is "$(append "$M/snapshots/Order-1" "$(printf 'Version: 2\n\n{"total":1}')")" ok "a snapshot is written"
is "$(append "$M/checkpoints/projector" 4)" ok "a checkpoint is written"
is "$(append "$M/checkpoints/café" 0)" ok "a checkpoint at 0 is written"

is "$(ctl verify "$STORE")" 0 "verify of the PostgreSQL store exits 0"
like "$(cat "$T/out")" "no problems \(7 events, 5 streams, 1 snapshot, 2 checkpoints\)" \
	"... and says there are no problems"

# ---- stats

is "$(ctl stats "$STORE")" 0 "stats of the PostgreSQL store exits 0"
is "$(cut -d' ' -f1 "$T/out" | tr '\n' ' ')" \
	"streams events head snapshots checkpoints categories types log_bytes database_bytes " \
	"stats prints the keys of a PostgreSQL store, none of a directory's files"
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$T/out"; }
is "$(stat_of streams) $(stat_of events) $(stat_of head) $(stat_of snapshots) $(stat_of checkpoints)" \
	"5 7 7 1 2" "stats counts streams, events, head, snapshots, checkpoints"
is "$(stat_of categories) $(stat_of types)" "2 5" "... categories and types"
is "$(stat_of log_bytes)" "$(cat "$M"/all/* | wc -c)" "log_bytes is the bytes of all the envelopes"
ok $([ "$(stat_of database_bytes)" -gt 0 ]; echo $?) "database_bytes is the database's size"

# ---- restore a cp -a copy into a fresh database

cp -a "$M/." "$T/copy"
is "$?" 0 "cp -a of the mount"
new_db r1 R1 || { ok 1 "a fresh database"; done_testing; }
is "$(ctl restore "$T/copy" "$R1")" 0 "restore of the copy into a fresh database exits 0"
like "$(cat "$T/out")" "restored 7 events, 5 streams \(1 empty\), 1 snapshot, 2 checkpoints" \
	"... and says what it restored"
is "$(ctl verify "$R1")" 0 "verify of the restored store exits 0"
mount_at "$T/m1" "$R1"
ok $? "the restored store mounts"
is "$(diff -r "$T/copy" "$T/m1" 2>&1 | head -n 5)" "" "diff -r between its mount and the copy finds nothing"
is "$(stat -c %Y "$T/m1/checkpoints/projector")" "$(stat -c %Y "$T/copy/checkpoints/projector")" \
	"the checkpoint keeps its time"
unmount_at "$T/m1"

is "$(ctl restore "$T/copy" "$R1")" 1 "restore into a store that is not empty exits 1"
like "$(cat "$T/err")" "the store is not empty \(7 events" "... and says why"
is "$(ctl verify "$R1")" 0 "... and leaves that store as it was"

# A copy whose fifth event is not as esfs writes it (a space added, in
# all/ and in its stream's file alike, one inode): refused by the store
# after the events before it were imported, which are removed again.
cp -a "$T/copy" "$T/bad"
f="$T/bad/all/$(pad 5)"
chmod u+w "$f" && line=$(sed 's/"data":{/"data": {/' "$f") && printf '%s\n' "$line" > "$f"
new_db r2 R2 || { ok 1 "a fresh database"; done_testing; }
is "$(ctl restore "$T/bad" "$R2")" 1 "restore of a copy the store refuses exits 1"
like "$(cat "$T/err")" "all/$(pad 5): refused by the store: an event is not compact JSON" \
	"... naming the event's file and the rule"
like "$(cat "$T/err")" "emptied again of what was imported" "... and says it emptied the store again"
ctl stats "$R2" > /dev/null
is "$(awk '$1 ~ /^(streams|events|head|snapshots|checkpoints)$/ { printf "%s ", $2 }' "$T/out")" \
	"0 0 0 0 0 " "nothing of it is left in the store"
is "$(ctl restore "$T/copy" "$R2")" 0 "the emptied store takes a good restore"

# ---- migrate: PostgreSQL → directory → PostgreSQL

is "$(ctl migrate "$STORE" "$T/local")" 0 "migrate of the PostgreSQL store into a new directory exits 0"
like "$(cat "$T/out")" "migrated 7 events \(head 7\), 5 streams \(1 empty\), 1 snapshot, 2 checkpoints" \
	"... and says what it copied"
is "$(ctl verify "$T/local")" 0 "verify of the directory store finds it clean"
new_db m2 M2 || { ok 1 "a fresh database"; done_testing; }
is "$(ctl migrate "$T/local" "$M2")" 0 "migrate of the directory store into a fresh database exits 0"
is "$(ctl verify "$M2")" 0 "verify of that PostgreSQL store finds it clean"
rm -rf "$T/local2"
is "$(ctl migrate "$M2" "$T/local2")" 0 "... and migrate back into a directory exits 0"
mount_at "$T/ml" "$T/local"
ok $? "the directory store mounts"
mount_at "$T/mp" "$M2"
ok $? "the migrated PostgreSQL store mounts"
mount_at "$T/ml2" "$T/local2"
ok $? "the directory store migrated back mounts"
is "$(diff -r "$M" "$T/ml" 2>&1 | head -n 5)" "" "diff -r: the directory's mount is the original's"
is "$(diff -r "$M" "$T/mp" 2>&1 | head -n 5)" "" "diff -r: the PostgreSQL copy's mount is the original's"
is "$(diff -r "$M" "$T/ml2" 2>&1 | head -n 5)" "" "diff -r: and so is the directory migrated back"
times() { (cd "$1" && find . -mindepth 2 -printf '%p %T@ %m %s\n' | sort); }
is "$(diff <(times "$M") <(times "$T/mp") | head -n 4)" "" "the same mtimes, modes and sizes"
unmount_at "$T/ml"
unmount_at "$T/mp"
unmount_at "$T/ml2"
is "$(ctl migrate "$T/local" "$M2")" 1 "migrate into a store that is not empty exits 1"
like "$(cat "$T/err")" "the store is not empty" "... and says why"
is "$(ctl migrate "$STORE" "$T/local")" 1 "migrate into a directory that is not empty exits 1"
is "$(ctl verify "$T/local")" 0 "... and leaves it as it was"

# ---- verify finds each fault put in the database

unmount_esfs
ok $? "the original store is unmounted"

# broken LABEL PATTERN: verify exits 1 and reports PATTERN
broken() {
	is "$(ctl verify "$STORE")" 1 "$1: verify exits 1"
	like "$(cat "$T/out")" "$2" "$1: verify reports it"
	like "$(tail -n 1 "$T/out")" "[0-9]+ problems? found" "$1: and counts the problems"
}

sql "UPDATE events SET envelope = replace(envelope, '\"i\":1', '\"i\":7') WHERE global_position = 2"
broken "a changed envelope" "event 2: its envelope and its columns disagree: data"
sql "UPDATE events SET envelope = replace(envelope, '\"i\":7', '\"i\":1') WHERE global_position = 2"

sql "UPDATE events SET bytes_before = bytes_before + 1 WHERE global_position = 3"
broken "a wrong bytes_before" "event 3: [0-9]+ bytes before it, where the events before hold [0-9]+"
sql "UPDATE events SET bytes_before = bytes_before - 1 WHERE global_position = 3"

sql "UPDATE streams SET version = version + 1 WHERE name = 'Order-1'"
broken "a stream's version off" "stream Order-1: at version 4, but its 3 events are versions 1 … 3"
sql "UPDATE streams SET version = version - 1 WHERE name = 'Order-1'"

sql "UPDATE views SET last_position = 1 WHERE kind = 2 AND name = 'Placed'"
broken "a view's last position" "type view Placed: its last position is 1, its newest event 3"
sql "UPDATE views SET last_position = 3 WHERE kind = 2 AND name = 'Placed'"

sql "UPDATE snapshots SET line = replace(line, '\"total\":1', '\"total\": 1')"
broken "a snapshot's line" "snapshot of Order-1: its line is not as esfs writes it"
sql "UPDATE snapshots SET line = replace(line, '\"total\": 1', '\"total\":1')"

sql "UPDATE subscription_checkpoints SET position = 99 WHERE name = 'projector'"
broken "a checkpoint past the head" "checkpoint projector: position 99, past the last 7"
sql "UPDATE subscription_checkpoints SET position = 4 WHERE name = 'projector'"

sql "UPDATE events SET envelope = 'not json' || chr(10) WHERE global_position = 6"
broken "an envelope that is not JSON" "event 6: an event that is not a JSON object"

# Put event 6 back from the copy, then the store is clean again.
sql "UPDATE events SET envelope = \$\$$(cat "$T/copy/all/$(pad 6)")
\$\$ WHERE global_position = 6"
is "$(ctl verify "$STORE")" 0 "with every fault undone, verify finds the store clean again"

sql "DELETE FROM events WHERE global_position = 4"
broken "a gap in the positions" "positions 4 … 4 are missing"
like "$(cat "$T/out")" "the head is at position 7, for 6 events" "... and the head's count"
like "$(cat "$T/out")" "stream Customer-7: at version 2, but its 1 events are versions 2 … 2" \
	"... and the stream's missing version"

done_testing
