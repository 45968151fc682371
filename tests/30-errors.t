#!/bin/bash
# 30-errors.t — malformed input: a table of bad headers, bad bodies, bad
# batches and bad names written to streams/S/new (oversized header lines
# and header blocks, deep nesting, out-of-range numbers, empty bodies), bad
# snapshot messages, bad checkpoint values, and stream and checkpoint names
# that are not valid UTF-8 or hold control characters; each of which must
# fail with EINVAL ("Invalid argument"), change nothing, and log one line;
# then text after a body on its line, which spoils the whole message; and
# the daemon still serving afterwards.
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
	(cd "$M" && ls -R . && cat all/* && grep -r . snapshots checkpoints) | sha256sum
}

# run_case KIND INPUT: one case of the table; INPUT is a printf format.
#   new   a message written to streams/Err-1/new in one write()
#   snap  a message written to snapshots/Err-1 in one write()
#   ckpt  a value written to checkpoints/cp in one write()
#   mkdir mkdir streams/NAME, NAME being INPUT expanded
#   cname echo 1 > checkpoints/NAME, NAME being INPUT expanded
run_case() {
	local name
	case $1 in
	new) bad_fmt "$S/new" "$2" ;;
	snap) bad_fmt "$M/snapshots/Err-1" "$2" ;;
	ckpt) bad_fmt "$M/checkpoints/cp" "$2" ;;
	mkdir | cname)
		name=$(printf -- "$2"; echo x)
		name=${name%x}
		if [ "$1" = mkdir ]; then
			try mkdir "$M/streams/$name"
		else
			try bash -c 'echo 1 > "$1"' _ "$M/checkpoints/$name"
		fi
		;;
	esac
}

U=0a1b2c3d-4e5f-4a6b-8c9d-0e1f2a3b4c5d
deep=$(printf '[%.0s' $(seq 1 600))$(printf ']%.0s' $(seq 1 600))
long=$(head -c 256 /dev/zero | tr '\0' t)
huge=$(head -c 1048576 /dev/zero | tr '\0' c)
pads=$(printf 'X-Pad: y\\n%.0s' $(seq 1 8000))
deeper=$(printf '[%.0s' $(seq 1 10000))$(printf ']%.0s' $(seq 1 10000))
names=() msgs=() kinds=()
add() {	# add NAME INPUT [KIND]: KIND as for run_case, default new
	names+=("$1")
	msgs+=("$2")
	kinds+=("${3:-new}")
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
add "a header line of 1 MiB"          "${H}Correlation-Id: $huge\n\n{}"
add "a header block over 64 KiB"      "${H}${pads}\n{}"
add "body nested 10000 deep"          "${H}\n{\"a\":$deeper}"
add "a number out of range in data"   "${H}\n{\"a\":1e400}"
add "a negative one out of range"     "${H}\n{\"a\":[-1e400]}"
add "a number out of range in Metadata" "${H}Metadata: {\"a\":1e400}\n\n{}"
add "a number out of range in a batch" 'Expected-Version: 1\n\n[{"event_type":"T","data":{"a":1e400}}]'
add "Expected-Version 2^63"           'Expected-Version: 9223372036854775808\nEvent-Type: T\n\n{}'
add "Expected-Version 2^64"           'Expected-Version: 18446744073709551616\nEvent-Type: T\n\n{}'
add "Schema-Version 2^32"             "${H}Schema-Version: 4294967296\n\n{}"
add "batch item schema_version 2^32"  'Expected-Version: 1\n\n[{"event_type":"T","data":{},"schema_version":4294967296}]'
add "an empty body (fails at close)"  "${H}\n"
add "a body only of whitespace"       "${H}\n  \n\t\r\n  "
add "batch: 3 good items, 1 bad"      'Expected-Version: 1\n\n[{"event_type":"A","data":{}},{"event_type":"B","data":{}},{"event_type":"C","data":{}},{"event_type":"D","data":7}]'
add "batch: 3 good items, 1 bad type" 'Expected-Version: 1\n\n[{"event_type":"A","data":{}},{"event_type":"B","data":{}},{"event_type":"C","data":{}},{"event_type":".D","data":{}}]'
add "stream name not UTF-8"           'Err-\xff'                  mkdir
add "stream name overlong UTF-8"      'Err-\xc0\xaf'              mkdir
add "stream name a UTF-16 surrogate"  'Err-\xed\xa0\x80'          mkdir
add "stream name truncated UTF-8"     'Err-\xe2\x82'              mkdir
add "stream name beyond U+10FFFF"     'Err-\xf4\x90\x80\x80'      mkdir
add "stream name with \\x01"          'Err-\x01'                  mkdir
add "stream name with ESC"            'Err-\x1b[1m'               mkdir
add "stream name with a tab"          'Err-\tx'                   mkdir
add "stream name with a newline"      'Err-\nx'                   mkdir
add "stream name with DEL"            'Err-\x7f'                  mkdir
add "stream name with U+0085"         'Err-\xc2\x85'              mkdir
add "stream name starting with ."     '.Err-2'                    mkdir
add "checkpoint name not UTF-8"       'cp\xff'                    cname
add "checkpoint name a surrogate"     'cp\xed\xa0\x80'            cname
add "checkpoint name with \\x01"      'cp\x01'                    cname
add "checkpoint name with a newline"  'cp\nx'                     cname
add "checkpoint name with DEL"        'cp\x7f'                    cname
add "checkpoint name starting with ." '.cp'                       cname
add "snapshot Version 0"              'Version: 0\n\n{"s":0}'      snap
add "snapshot Version -1"             'Version: -1\n\n{"s":0}'     snap
add "snapshot Version x"              'Version: x\n\n{"s":0}'      snap
add "snapshot Version beyond stream"  'Version: 2\n\n{"s":0}'      snap
add "snapshot without Version"        '\n{"s":0}'                 snap
add "snapshot with an unknown header" 'Version: 1\nX: 1\n\n{"s":0}' snap
add "snapshot body an array"          'Version: 1\n\n[{"s":0}]'    snap
add "snapshot body not JSON"          'Version: 1\n\n{"s":}'       snap
add "checkpoint 1e3"                  '1e3'                       ckpt
add "checkpoint 0x10"                 '0x10'                      ckpt
add "checkpoint \" 5\""               ' 5'                        ckpt
add "checkpoint \"5 \""               '5 '                        ckpt
add "checkpoint \"\\n\""              '\n'                        ckpt
add "checkpoint two newlines"         '1\n\n'                     ckpt
add "checkpoint -1"                   '-1'                        ckpt
add "checkpoint +1"                   '+1'                        ckpt
add "checkpoint 1.0"                  '1.0'                       ckpt
add "checkpoint beyond the last"      '99'                        ckpt
add "checkpoint 2^64"                 '18446744073709551616'      ckpt

diag "${#names[@]} malformed inputs"
ok $(( ${#names[@]} >= 65 ? 0 : 1 )) "the table has at least 65 cases"

# Something for the snapshot and checkpoint cases to leave alone.
is "$(append "$M/snapshots/Err-1" 'Version: 1

{"s":1}')" ok "a snapshot of Err-1 at version 1"
is "$(append "$M/checkpoints/cp" 1)" ok "a checkpoint cp at 1"

before=$(state)
all_before=$(ls "$M/all" | wc -l)
n_new=0 n_snap=0
for i in "${!names[@]}"; do
	case ${kinds[$i]} in
	new) n_new=$((n_new + 1)) ;;
	snap) n_snap=$((n_snap + 1)) ;;
	esac
	log_before=$(wc -l < "$LOG")
	is "$(run_case "${kinds[$i]}" "${msgs[$i]}")" "Invalid argument" "${names[$i]}: EINVAL"
	is "$(ls "$M/all" | wc -l)" "$all_before" "${names[$i]}: stores nothing"
	is "$(state)" "$before" "${names[$i]}: changes nothing"
	is "$(( $(wc -l < "$LOG") - log_before ))" 1 "${names[$i]}: logs one line"
done
is "$(state)" "$before" "after all of them, the tree and every event's bytes are unchanged"
is "$(grep -c '^esfs: append to stream Err-1: .*(EINVAL)$' "$LOG")" "$n_new" \
	"one log line per failed append, each naming the stream and EINVAL"
is "$(grep -c '^esfs: snapshot of Err-1: .*(EINVAL)$' "$LOG")" "$n_snap" \
	"one log line per failed snapshot, each naming the stream and EINVAL"
is "$(cat "$M/snapshots/Err-1" | jq -c '[.version,.data]')" '[1,{"s":1}]' "the snapshot is as it was"
is "$(cat "$M/checkpoints/cp")" 1 "the checkpoint is as it was"

# An empty value never reaches esfs: the kernel does not pass a write() of
# 0 bytes on, so `printf "" > checkpoints/cp` is a truncation and nothing
# else, which is accepted and changes nothing.
is "$(try bash -c 'printf "" > "$1"' _ "$M/checkpoints/cp")" ok \
	'an empty checkpoint value (no write() at all) is only a truncation'
is "$(cat "$M/checkpoints/cp")" 1 "and leaves the checkpoint as it was"

# ---- Text after a body on its line. ----------------------------------
# After the body closes only spaces and tabs may follow on its line: any
# other text there makes the whole message EINVAL, and nothing of it is
# stored. Messages that each end their line still share one write.

P=$M/streams/Junk-1
mkdir "$P"
log_before=$(wc -l < "$LOG")
is "$(bad_fmt "$P/new" 'Expected-Version: 0\nEvent-Type: T\n\n{"a":1}junk\n')" "Invalid argument" \
	'"{...}junk\n" in one write: the write fails with EINVAL'
is "$(ls "$P" | grep -c '^[0-9]')" 0 "nothing of the message is stored"
is "$(( $(wc -l < "$LOG") - log_before ))" 1 "one log line for it"
like "$(tail -n 1 "$LOG")" "only spaces and tabs may follow the body on its line, not 'junk'" \
	"the log line says why"

is "$(append "$P/new" 'Expected-Version: any
Event-Type: H

{} xyz
')" "Invalid argument" "bash's printf of '{} xyz' fails with EINVAL"
is "$(ls "$P" | grep -c '^[0-9]')" 0 "and stores nothing"

printf 'Expected-Version: 0\nEvent-Type: T\n\n{"a":2}junk' | cat > "$P/new" 2>/dev/null
ok $((! $?)) '"{...}junk" without a newline: cat exits non-zero'
is "$(ls "$P" | grep -c '^[0-9]')" 0 "nothing is stored"
is "$(append "$P/new" 'Expected-Version: 0
Event-Type: T

{"a":1}  ')" ok "trailing blanks after a body, at the end of the data, are not a message"
is "$(bad_fmt "$P/new" 'Expected-Version: 1\nEvent-Type: T\n\n{"a":2} \t \r\nExpected-Version: 2\nEvent-Type: T\n\n{"a":3}\t\n')" ok \
	"blanks, then CRLF or LF, end a body's line; two messages in one write"
is "$(ls "$P" | grep -c '^[0-9]')" 3 "all three are stored"

is "$(bad_fmt "$P/new" 'Expected-Version: 3\nEvent-Type: T\n\n{"a":4}}')" "Invalid argument" \
	'"{...}}": the stray brace is an error'
is "$(bad_fmt "$P/new" 'Expected-Version: 3\n\n[{"event_type":"T","data":{"a":4}},{"event_type":"T","data":{"a":5}}] ,\n')" \
	"Invalid argument" "a batch followed by text on its line is an error"
is "$(bad_fmt "$P/new" 'Expected-Version: 3\nEvent-Type: T\n\n{"a":4}\nExpected-Version: 4\nEvent-Type: T\n\n{"a":5}x\nExpected-Version: 4\nEvent-Type: T\n\n{"a":6}\n')" \
	"Invalid argument" "of three messages in one write, the second has text after its body: the write fails"
is "$(cat "$P"/0* | jq -c .data | tr '\n' ' ')" '{"a":1} {"a":2} {"a":3} {"a":4} ' \
	"the first was committed before it, nothing of the second, and the write stopped there"

# ---- Still serving. ---------------------------------------------------

is "$(append "$S/new" 'Expected-Version: 1
Event-Type: Second

{"ok":2}')" ok "the daemon still serves appends after all the failures"
is "$(cat "$S"/* | jq -r .event_type | tr '\n' ' ')" "First Second " "the stream has exactly its two good events"
is "$(jq -r .version < "$S/2")" 2 "at versions 1 and 2, no gap"
cat "$M"/all/* | jq -e . > /dev/null
ok $? "cat all/* parses"
is "$(cat "$M"/all/* | jq -r .global_position | tr '\n' ' ')" "$(seq -s ' ' 1 "$(ls "$M/all" | wc -l)") " \
	"global positions have no gap"
kill -0 "$PID"
ok $? "the daemon is alive"
unmount_esfs
ok $? "unmounts cleanly"
done_testing
