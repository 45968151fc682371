#!/bin/bash
# 50-snapshots.t — snapshots/S: writing a "Version: N" message creates or
# replaces the snapshot, reading gives one line of JSON with keys in order,
# bad versions, headers and bodies get EINVAL and keep the old snapshot, a
# stream that does not exist gets ENOENT, ls lists the streams that have
# one, rm deletes it and loses no event.
. "$(dirname "$0")/lib.sh"
export TZ=UTC

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

S=Snap-1
mkdir "$M/streams/$S" "$M/streams/Empty-1" "$M/streams/Other-1"
is "$(append "$M/streams/$S/new" 'Expected-Version: 0

[{"event_type":"A","data":{}},{"event_type":"B","data":{}},{"event_type":"C","data":{}}]')" \
	ok "a stream at version 3"
append "$M/streams/Other-1/new" 'Expected-Version: 0
Event-Type: X

{}' >/dev/null
events=$(cat "$M/all/"* | sha256sum)

# one_write FILE FORMAT: printf FORMAT to FILE in one write(); ok or the error
one_write() {
	printf -- "$2" > "$T/msg"
	try bash -c 'cat "$1" > "$2"' _ "$T/msg" "$1"
}

is "$(ls "$M/snapshots" | wc -l)" 0 "no snapshots at first"
is "$(try cat "$M/snapshots/$S")" "No such file or directory" "a stream without a snapshot: ENOENT"

# ---- Write and read. --------------------------------------------------

is "$(append "$M/snapshots/$S" 'Version: 2

{ "state" : 1.50,
  "items": [1, 2],	"u":"\u00e9" }
')" ok "printf 'Version: 2\n\n{...}' > snapshots/S"
snap=$(cat "$M/snapshots/$S")
ok $? "cat snapshots/S"
is "$(printf '%s\n' "$snap" | jq -c keys_unsorted)" '["stream_id","version","created_at","data"]' \
	"keys in order: stream_id, version, created_at, data"
is "$(printf '%s\n' "$snap" | jq -r .stream_id)" "$S" "stream_id"
is "$(printf '%s\n' "$snap" | jq -r .version)" 2 "version"
like "$(printf '%s\n' "$snap" | jq -r .created_at)" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$' "created_at is UTC with microseconds"
like "$snap" '^\{"stream_id":"Snap-1","version":2,"created_at":"[^"]*","data":\{"state":1\.50,"items":\[1,2\],"u":"\\u00e9"\}\}$' \
	"one compact line; data kept as written less whitespace"
is "$(cat "$M/snapshots/$S" | wc -l)" 1 "one line"
is "$(tail -c 1 "$M/snapshots/$S" | od -An -c | tr -d ' ')" '\n' "ending in a newline"
is "$(stat -c %s "$M/snapshots/$S")" "$(cat "$M/snapshots/$S" | wc -c)" "st_size is the byte count"
is "$(ls "$M/snapshots")" "$S" "ls snapshots lists the stream"

is "$(append "$M/snapshots/$S" 'version: 3

{"state":2}')" ok "writing again (header name in lower case)"
is "$(cat "$M/snapshots/$S" | jq -c '[.version,.data]')" '[3,{"state":2}]' "replaces the snapshot"
is "$(ls "$M/snapshots" | wc -l)" 1 "still one snapshot"
is "$(append "$M/snapshots/$S" $'Version: 1\r\n\r\n{"state":0}\r\n')" ok "CRLF and an older version work too"
is "$(cat "$M/snapshots/$S" | jq -c '[.version,.data]')" '[1,{"state":0}]' "the latest write wins"
append "$M/snapshots/$S" 'Version: 3

{"state":3}' >/dev/null
good=$(cat "$M/snapshots/$S")
is "$(printf '%s\n' "$good" | jq -r .version)" 3 "back at version 3"

# ---- Bad writes keep the old snapshot. --------------------------------

bad() {	# bad NAME WANT FORMAT
	is "$(one_write "$M/snapshots/$S" "$3")" "$2" "$1"
	is "$(cat "$M/snapshots/$S")" "$good" "$1: the old snapshot is kept"
}
bad "Version 0: EINVAL" "Invalid argument" 'Version: 0\n\n{"s":1}'
bad "Version beyond the stream (4 > 3): EINVAL" "Invalid argument" 'Version: 4\n\n{"s":1}'
bad "Version -1: EINVAL" "Invalid argument" 'Version: -1\n\n{"s":1}'
bad "Version abc: EINVAL" "Invalid argument" 'Version: abc\n\n{"s":1}'
bad "Version empty: EINVAL" "Invalid argument" 'Version:\n\n{"s":1}'
bad "missing Version header: EINVAL" "Invalid argument" 'Event-Type: T\n\n{"s":1}'
bad "no headers at all: EINVAL" "Invalid argument" '\n{"s":1}'
bad "unknown header: EINVAL" "Invalid argument" 'Version: 2\nX-Other: 1\n\n{"s":1}'
bad "Expected-Version is not a snapshot header: EINVAL" "Invalid argument" 'Version: 2\nExpected-Version: 3\n\n{"s":1}'
bad "duplicate Version header: EINVAL" "Invalid argument" 'Version: 2\nVersion: 2\n\n{"s":1}'
bad "body an array: EINVAL" "Invalid argument" 'Version: 2\n\n[{"s":1}]'
bad "body a string: EINVAL" "Invalid argument" 'Version: 2\n\n"s"'
bad "body a number: EINVAL" "Invalid argument" 'Version: 2\n\n7'
bad "body not JSON: EINVAL" "Invalid argument" 'Version: 2\n\n{"s":}'
bad "body with duplicate keys: EINVAL" "Invalid argument" 'Version: 2\n\n{"s":1,"s":2}'
bad "incomplete body at close: EINVAL" "Invalid argument" 'Version: 2\n\n{"s":'
is "$(ls "$M/snapshots")" "$S" "ls snapshots still lists only the stream"

# ---- Streams without events, without a snapshot, or missing. ----------

is "$(one_write "$M/snapshots/Empty-1" 'Version: 1\n\n{}')" "Invalid argument" \
	"a snapshot of a stream at version 0: EINVAL"
is "$(try cat "$M/snapshots/Empty-1")" "No such file or directory" "and no snapshot is made"
is "$(one_write "$M/snapshots/Other-1" 'Version: 2\n\n{}')" "Invalid argument" \
	"a failed first write to a stream with no snapshot: EINVAL"
is "$(try cat "$M/snapshots/Other-1")" "No such file or directory" "and leaves no snapshot"
is "$(ls "$M/snapshots")" "$S" "ls snapshots does not list it"
is "$(one_write "$M/snapshots/Nope-1" 'Version: 1\n\n{}')" "No such file or directory" \
	"a snapshot of a stream that does not exist: ENOENT"
is "$(try cat "$M/snapshots/Nope-1")" "No such file or directory" "and none is made"
is "$(try ls -d "$M/streams/Nope-1")" "No such file or directory" "nor a stream"
is "$(append "$M/snapshots/Other-1" 'Version: 1

{"o":1}')" ok "a snapshot of a second stream"
is "$(ls "$M/snapshots" | sort | tr '\n' ' ')" "Other-1 $S " "ls snapshots lists both streams"

# ---- rm. --------------------------------------------------------------

is "$(try rm "$M/snapshots/$S")" ok "rm snapshots/S"
is "$(try cat "$M/snapshots/$S")" "No such file or directory" "then cat fails with ENOENT"
is "$(ls "$M/snapshots")" "Other-1" "ls snapshots no longer lists it"
is "$(cat "$M/all/"* | sha256sum)" "$events" "no event was lost or changed"
is "$(ls "$M/streams/$S" | wc -l)" 4 "the stream keeps its three events and new"
is "$(try rm "$M/snapshots/$S")" "No such file or directory" "rm of a missing snapshot fails"
is "$(try rm "$M/snapshots/Nope-1")" "No such file or directory" "rm of a snapshot of no stream fails"
is "$(append "$M/snapshots/$S" 'Version: 3

{"again":true}')" ok "a deleted snapshot can be written again"
is "$(cat "$M/snapshots/$S" | jq -c '[.version,.data]')" '[3,{"again":true}]' "and reads back"
is "$(cat "$M/all/"* | sha256sum)" "$events" "events are still unchanged"

unmount_esfs
ok $? "unmounts cleanly"
done_testing
