#!/bin/bash
# 30-errors.t — malformed messages written to streams/S/new: a table of
# bad headers, bad bodies, bad batches and bad names, each of which must
# fail with EINVAL ("Invalid argument"), store nothing, and log one line;
# then a body followed by garbage in the same write; and the daemon still
# serving afterwards.
. "$(dirname "$0")/lib.sh"

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

S=$M/streams/Err-1
mkdir "$S"
is "$(append "$S/new" 'Expected-Version: 0
Event-Type: First

{"ok":1}')" ok "a good event first (the stream is at version 1)"

# bad_fmt FILE FORMAT: writes printf FORMAT (its \n, \r, \0 and \xHH
# escapes expanded) to FILE in one write() (cat of a small file: bash's
# printf writes line by line, and after a failed write it would go on
# writing the rest of the message as if it were a new one); prints ok or
# the error, from the write or from the close.
bad_fmt() {
	printf -- "$2" > "$T/msg"
	try bash -c 'cat "$1" > "$2"' _ "$T/msg" "$1"
}
state() {
	(cd "$M" && ls -R . && cat all/*) | sha256sum
}

U=0a1b2c3d-4e5f-4a6b-8c9d-0e1f2a3b4c5d
deep=$(printf '[%.0s' $(seq 1 600))$(printf ']%.0s' $(seq 1 600))
long=$(head -c 256 /dev/zero | tr '\0' t)
names=() msgs=()
add() {
	names+=("$1")
	msgs+=("$2")
}
H='Expected-Version: 1\nEvent-Type: T\n'
add "missing Expected-Version"        'Event-Type: T\n\n{}'
add "Expected-Version -1"             'Expected-Version: -1\nEvent-Type: T\n\n{}'
add "Expected-Version abc"            'Expected-Version: abc\nEvent-Type: T\n\n{}'
add "Expected-Version 1.5"            'Expected-Version: 1.5\nEvent-Type: T\n\n{}'
add "Expected-Version 20 digits"      'Expected-Version: 99999999999999999999\nEvent-Type: T\n\n{}'
add "Expected-Version empty"          'Expected-Version: \nEvent-Type: T\n\n{}'
add "Expected-Version +1"             'Expected-Version: +1\nEvent-Type: T\n\n{}'
add "Expected-Version 1 2"            'Expected-Version: 1 2\nEvent-Type: T\n\n{}'
add "unknown header"                  "${H}X-Custom: 1\n\n{}"
add "duplicate header"                "${H}Event-Type: T\n\n{}"
add "duplicate header, other case"    'Expected-Version: 1\nexpected-version: 1\nEvent-Type: T\n\n{}'
add "header without colon"            "${H}Event-Id\n\n{}"
add "header with space before colon"  'Expected-Version : 1\nEvent-Type: T\n\n{}'
add "bad Event-Id"                    "${H}Event-Id: not-a-uuid\n\n{}"
add "Event-Id too long"               "${H}Event-Id: ${U}0\n\n{}"
add "Schema-Version 0"                "${H}Schema-Version: 0\n\n{}"
add "Schema-Version -1"               "${H}Schema-Version: -1\n\n{}"
add "Schema-Version x"                "${H}Schema-Version: x\n\n{}"
add "Metadata not JSON"               "${H}Metadata: {user: bob}\n\n{}"
add "Metadata an array"               "${H}Metadata: [1,2]\n\n{}"
add "Metadata a string"               "${H}Metadata: \"m\"\n\n{}"
add "Metadata with duplicate keys"    "${H}Metadata: {\"a\":1,\"a\":2}\n\n{}"
add "body not JSON"                   "${H}\n{\"a\":}"
add "body with a trailing comma"      "${H}\n{\"a\":1,}"
add "body unquoted key"               "${H}\n{a:1}"
add "body an array with Event-Type"   "${H}\n[{\"a\":1}]"
add "body a string"                   "${H}\n\"text\""
add "body a number"                   "${H}\n42"
add "body null"                       "${H}\nnull"
add "body with duplicate keys"        "${H}\n{\"a\":1,\"a\":2}"
add "body nested 600 deep"            "${H}\n{\"a\":$deep}"
add "empty batch"                     'Expected-Version: 1\n\n[]'
add "batch body an object"            'Expected-Version: 1\n\n{"event_type":"T","data":{}}'
add "batch item not an object"        'Expected-Version: 1\n\n[1]'
add "batch item a string"             'Expected-Version: 1\n\n[{"event_type":"T","data":{}},"x"]'
add "batch item missing event_type"   'Expected-Version: 1\n\n[{"data":{}}]'
add "batch item missing data"         'Expected-Version: 1\n\n[{"event_type":"T"}]'
add "batch item data not an object"   'Expected-Version: 1\n\n[{"event_type":"T","data":[1]}]'
add "batch item event_type a number"  'Expected-Version: 1\n\n[{"event_type":7,"data":{}}]'
add "batch item unknown key"          'Expected-Version: 1\n\n[{"event_type":"T","data":{},"extra":1}]'
add "batch item duplicate key"        'Expected-Version: 1\n\n[{"event_type":"T","data":{},"data":{}}]'
add "batch item bad event_id"         'Expected-Version: 1\n\n[{"event_type":"T","data":{},"event_id":"nope"}]'
add "batch item schema_version 0"     'Expected-Version: 1\n\n[{"event_type":"T","data":{},"schema_version":0}]'
add "batch item metadata an array"    'Expected-Version: 1\n\n[{"event_type":"T","data":{},"metadata":[]}]'
add "batch item event_type with /"    'Expected-Version: 1\n\n[{"event_type":"a/b","data":{}}]'
add "batch with one id twice"         "Expected-Version: 1\n\n[{\"event_type\":\"T\",\"data\":{},\"event_id\":\"$U\"},{\"event_type\":\"T\",\"data\":{},\"event_id\":\"$U\"}]"
add "Event-Id header in a batch"      "Expected-Version: 1\nEvent-Id: $U\n\n[{\"event_type\":\"T\",\"data\":{}}]"
add "event type with /"               'Expected-Version: 1\nEvent-Type: a/b\n\n{}'
add "event type starting with ."      'Expected-Version: 1\nEvent-Type: .T\n\n{}'
add "event type with a control char"  'Expected-Version: 1\nEvent-Type: a\x01b\n\n{}'
add "event type with DEL"             'Expected-Version: 1\nEvent-Type: a\x7fb\n\n{}'
add "event type not UTF-8"            'Expected-Version: 1\nEvent-Type: a\xffb\n\n{}'
add "event type of 256 bytes"         "Expected-Version: 1\nEvent-Type: $long\n\n{}"
add "empty event type"                'Expected-Version: 1\nEvent-Type:\n\n{}'
add "a NUL byte in a header"          'Expected-Version: 1\nEvent-Type: a\0b\n\n{}'
add "a NUL byte in a header name"     'Expected-Version: 1\nEvent\0Type: T\n\n{}'
add "Correlation-Id not UTF-8"        "${H}Correlation-Id: \xff\n\n{}"

diag "${#names[@]} malformed messages"
ok $(( ${#names[@]} >= 30 ? 0 : 1 )) "the table has at least 30 cases"

before=$(state)
all_before=$(ls "$M/all" | wc -l)
for i in "${!names[@]}"; do
	log_before=$(wc -l < "$LOG")
	is "$(bad_fmt "$S/new" "${msgs[$i]}")" "Invalid argument" "${names[$i]}: EINVAL"
	is "$(ls "$M/all" | wc -l)" "$all_before" "${names[$i]}: stores nothing"
	is "$(( $(wc -l < "$LOG") - log_before ))" 1 "${names[$i]}: logs one line"
done
is "$(state)" "$before" "after all of them, the tree and every event's bytes are unchanged"
is "$(grep -c 'stream Err-1.*(EINVAL)$' "$LOG")" "${#names[@]}" \
	"one log line per failure, each naming the stream and EINVAL"

# ---- A body followed by garbage in the same write. --------------------
# The bytes after the body's closing brace start the next message, so
# "{}junk" is one good message and one bad one: the good one is committed,
# the bad one gets the error, and nothing of it is stored.

P=$M/streams/Junk-1
mkdir "$P"
log_before=$(wc -l < "$LOG")
is "$(bad_fmt "$P/new" 'Expected-Version: 0\nEvent-Type: T\n\n{"a":1}junk\n')" "Invalid argument" \
	'"{...}junk\n" in one write: the write fails with EINVAL'
is "$(ls "$P" | grep -c '^[0-9]')" 1 "the complete message before the garbage is stored, nothing else"
is "$(jq -c .data < "$P/1")" '{"a":1}' "and it is the body as written"
is "$(( $(wc -l < "$LOG") - log_before ))" 1 "one log line for the garbage"

printf 'Expected-Version: 1\nEvent-Type: T\n\n{"a":2}junk' | cat > "$P/new" 2>/dev/null
ok $((! $?)) '"{...}junk" without a newline: cat exits non-zero (junk is incomplete at close)'
is "$(ls "$P" | grep -c '^[0-9]')" 2 "the complete message is stored, nothing of the junk"
is "$(append "$P/new" 'Expected-Version: 2
Event-Type: T

{"a":3}  ')" ok "trailing blanks after a body are not a message"
is "$(ls "$P" | grep -c '^[0-9]')" 3 "and the message is stored"

is "$(bad_fmt "$P/new" 'Expected-Version: 3\nEvent-Type: T\n\n{"a":4}}')" "Invalid argument" \
	'"{...}}": the stray brace is an error'
is "$(ls "$P" | grep -c '^[0-9]')" 4 "the complete message before it is stored"
is "$(cat "$P"/* | jq -c .data | tr '\n' ' ')" '{"a":1} {"a":2} {"a":3} {"a":4} ' \
	"the stream holds exactly the four good bodies"

# ---- Still serving. ---------------------------------------------------

is "$(append "$S/new" 'Expected-Version: 1
Event-Type: Second

{"ok":2}')" ok "the daemon still serves appends after all the failures"
is "$(cat "$S"/* | jq -r .event_type | tr '\n' ' ')" "First Second " "the stream has exactly its two good events"
is "$(jq -r .version < "$S/2")" 2 "at versions 1 and 2, no gap"
kill -0 "$PID"
ok $? "the daemon is alive"
unmount_esfs
ok $? "unmounts cleanly"
done_testing
