#!/bin/bash
# 20-append.t — appending through streams/S/new: the message format
# (case-insensitive headers, CRLF, bodies over several lines, every header),
# batches (atomic, all or nothing), messages split over writes and several
# messages per file or per write, the read-back line, idempotent retries and
# id conflicts, Expected-Version conflicts and their log line, a message
# left incomplete at close, and the event size limit (default and -o
# max_event).
. "$(dirname "$0")/lib.sh"

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

UUID_RE='^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
S=$M/streams/Order-1
mkdir "$S"

# ev N [STREAM-DIR]: the JSON of event version N
ev() {
	cat "${2:-$S}/$(pad "$1")"
}
count() {	# count DIR: number of events in DIR
	ls "$1" | grep -c '^[0-9]\{20\}$'
}
# state: every name and every event's bytes, to see that nothing changed
state() {
	(cd "$M" && ls -R . && cat all/*) | sha256sum
}

# ---- Headers. ---------------------------------------------------------

is "$(append "$S/new" 'expected-version: 0
EVENT-TYPE: Placed
event-ID: 0A1B2C3D-4E5F-4a6b-8c9d-0e1f2a3b4c5d
Schema-version: 3

{"n":1}')" ok "header names are case-insensitive"
is "$(ev 1 | jq -r .event_type)" Placed "Event-Type (in any case) is the event type"
is "$(ev 1 | jq -r .event_id)" 0a1b2c3d-4e5f-4a6b-8c9d-0e1f2a3b4c5d \
	"a given Event-Id is kept, in lowercase"
is "$(ev 1 | jq -r .schema_version)" 3 "Schema-Version is kept"
is "$(ev 1 | jq -r .version)" 1 "the first event is version 1"

is "$(append "$S/new" $'Expected-Version: 1\r\nEvent-Type: Crlf\r\n\r\n{"n":2}\r\n')" ok \
	"CRLF line ends work"
is "$(ev 2 | jq -c '[.event_type,.data]')" '["Crlf",{"n":2}]' "the CRLF message is stored as sent"
like "$(ev 2 | jq -r .event_id)" "$UUID_RE" "Event-Id absent: a UUID is generated"
is "$(ev 2 | jq -r .schema_version)" 1 "Schema-Version absent: 1"
[ "$(ev 1 | jq -r .event_id)" != "$(ev 2 | jq -r .event_id)" ]
ok $? "ids differ"

is "$(append "$S/new" 'Expected-Version: 2
Event-Type: Multi

{
  "n": 3,
  "lines": [
    1,
    2
  ]
}
')" ok "a body spanning lines"
is "$(ev 3 | jq -c .data)" '{"n":3,"lines":[1,2]}' "it is stored as one compact object"

is "$(append "$S/new" 'Expected-Version: any
Event-Type: Any

{"n":4}')" ok "Expected-Version: any appends without a check"
is "$(ev 4 | jq -r .version)" 4 "at the next version"
is "$(append "$S/new" 'Expected-Version: ANY
Event-Type: Any

{"n":5}')" ok "any is case-insensitive too"

is "$(append "$S/new" 'Expected-Version: 5
Event-Type: Meta
Metadata: {"user": "bob", "n": 1.50}

{"n":6}')" ok "a Metadata header"
is "$(sed -E 's/.*"metadata":(\{[^}]*\}).*/\1/' "$S/$(pad 6)")" '{"user":"bob","n":1.50}' \
	"metadata is the header's object, whitespace removed, number text kept"

is "$(append "$S/new" 'Expected-Version: 6
Event-Type: Corr
Metadata: {"correlation_id":"old","causation_id":"old","k":1}
Correlation-Id: req-xyz
Causation-Id: cmd-42

{"n":7}')" ok "Correlation-Id and Causation-Id with a Metadata header"
is "$(ev 7 | jq -cS .metadata)" '{"causation_id":"cmd-42","correlation_id":"req-xyz","k":1}' \
	"they are merged into metadata, overriding the Metadata header's keys"
is "$(append "$S/new" 'Expected-Version: 7
Event-Type: Corr
Correlation-Id: only-corr

{"n":8}')" ok "Correlation-Id alone"
is "$(ev 8 | jq -c .metadata)" '{"correlation_id":"only-corr"}' "makes metadata {correlation_id}"
is "$(ev 8 | jq -c keys_unsorted)" \
	'["event_id","stream_id","event_type","version","schema_version","data","metadata","global_position","created_at"]' \
	"envelope keys in order"

# ---- Batches. ---------------------------------------------------------

is "$(append "$S/new" 'Expected-Version: 8

[
 {"event_type":"B1","data":{"i":1}},
 {"event_type":"B2","data":{"i":2},"event_id":"11111111-2222-4333-8444-555555555555",
  "metadata":{"m":true},"schema_version":2},
 {"data":{"i":3},"event_type":"B3"}
]')" ok "a batch of three"
is "$(for v in 9 10 11; do ev $v | jq -r '"\(.version) \(.event_type) \(.data.i)"'; done | tr '\n' ,)" \
	"9 B1 1,10 B2 2,11 B3 3," "the batch is appended with consecutive versions, in order"
is "$(for v in 9 10 11; do ev $v | jq -r .global_position; done | tr '\n' ,)" "9,10,11," \
	"and consecutive global positions"
is "$(ev 10 | jq -c '[.event_id,.metadata,.schema_version]')" \
	'["11111111-2222-4333-8444-555555555555",{"m":true},2]' "an item's event_id, metadata and schema_version are kept"
like "$(ev 9 | jq -r .event_id)" "$UUID_RE" "an item without event_id gets a UUID"
is "$(ev 9 | jq -c '[.metadata,.schema_version]')" '[{},1]' "an item's defaults: metadata {}, schema_version 1"

before=$(state)
is "$(append "$S/new" 'Expected-Version: 11

[{"event_type":"C1","data":{}},{"event_type":"C2","data":{}},{"event_type":"C3"}]')" \
	"Invalid argument" "a batch with one bad item (no data) fails"
is "$(state)" "$before" "and stores nothing: streams and all/ unchanged"
is "$(count "$S")" 11 "the stream still has 11 events"
is "$(count "$M/all")" 11 "all/ still has 11 events"

# ---- A message over several writes. -----------------------------------
# The kernel sends FLUSH to the daemon on every close() of a descriptor of
# the open file, including a duplicate (bash's `>&3` dups and closes fd 1)
# and a child's inherited copy. The first case below writes the parts from
# this shell through fd 1, with builtins only (no dup, no fork) while the
# message is incomplete, and observes the stream with builtins too.

mkdir "$M/streams/Split-1" "$M/streams/Split-2" "$M/streams/Split-3"
P=$M/streams/Split-1
p1=$P/$(pad 1)
exec 4>&1 >"$P/new"
printf 'Expected-Version: 0\nEvent-Ty'
w1=$?
[ -e "$p1" ]; e1=$?
printf 'pe: Split\n\n{"n":'
w2=$?
[ -e "$p1" ]; e2=$?
f=("$P"/*); c2=${#f[@]}
printf '1}\n'
w3=$?
[ -e "$p1" ]; e3=$?
exec >&4 4>&-
ok $w1 "the first part of a message is accepted"
ok $((! e1)) "nothing is committed after the first part (headers incomplete)"
ok $((w2)) "the second part is accepted"
ok $((! e2)) "nothing is committed after the second part (body incomplete)"
is "$c2" 1 "the stream lists only new meanwhile"
ok $w3 "the last part's write succeeds"
ok $e3 "the message is committed when its last part arrives, before close"
is "$(cat "$p1" | jq -c '[.event_type,.data]')" '["Split",{"n":1}]' "and is stored whole"

# The same with exec 3>new and printf >&3, as a user writes it.
P=$M/streams/Split-2
exec 3>"$P/new"
printf 'Expected-Version: 0\nEvent-Ty' >&3
ok $? "exec 3>new: the first part is accepted"
is "$(count "$P")" 0 "exec 3>new: nothing is committed after the first part"
printf 'pe: Split\n\n{"n":' >&3
ok $? "exec 3>new: the second part is accepted"
is "$(count "$P")" 0 "exec 3>new: nor after the second part"
printf '1}\n' >&3
ok $? "exec 3>new: the last part's write succeeds"
is "$(count "$P")" 1 "exec 3>new: the message is committed when its last part arrives"
[ "$(count "$P")" = 1 ] || diag "daemon log: $(grep 'Split-2' "$LOG" | tr '\n' '|')"
exec 3>&-
ok $? "close after a complete message succeeds"

# The same with a group command, one part, a pause (an external sleep,
# which inherits and closes the file), then the rest.
P=$M/streams/Split-3
is "$(try bash -c '{ printf "Expected-Version: 0\nEvent-Type: Sub\n\n{\"a\":"; sleep 0.1; printf "13}"; } > "$1"' _ "$P/new")" \
	ok "{ printf part1; sleep 0.1; printf part2; } > new succeeds"
is "$(count "$P")" 1 "and the message is stored"
[ "$(count "$P")" = 1 ] || diag "daemon log: $(grep 'Split-3' "$LOG" | tr '\n' '|')"

# ---- Several messages in one open file, and in one write. -------------

P=$M/streams/Multi-1
mkdir "$P"
exec 3>"$P/new"
printf 'Expected-Version: 0\nEvent-Type: One\n\n{"n":1}\n' >&3
is "$(count "$P")" 1 "the first message in an open file is committed by its write"
printf 'Expected-Version: 1\nEvent-Type: Two\n\n{"n":2}\n' >&3
is "$(count "$P")" 2 "the second message in the same open file too"
exec 3>&-
is "$(cat "$P"/* | jq -r .event_type | tr '\n' ,)" "One,Two," "both stored in order"

P=$M/streams/Multi-2
mkdir "$P"
is "$(append "$P/new" 'Expected-Version: 0
Event-Type: W1

{"n":1}
Expected-Version: 1
Event-Type: W2

{"n":2}

Expected-Version: 2
Event-Type: W3

{"n":3}')" ok "three messages in one write"
is "$(cat "$P"/* | jq -r '"\(.version):\(.event_type)"' | tr '\n' ,)" "1:W1,2:W2,3:W3," \
	"all three are stored, in order"

# ---- Read-back. -------------------------------------------------------

mkdir "$M/streams/Other-1"
O=$M/streams/Other-1
head=$(count "$M/all")
exec 3<>"$O/new"
printf 'Expected-Version: 0\nEvent-Type: R\n\n{"r":1}' >&3
read -r v p <&3
is "$v $p" "1 $((head + 1))" "read-back gives the stream version and global position"
printf 'Expected-Version: 1\n\n[{"event_type":"R","data":{}},{"event_type":"R","data":{}}]' >&3
read -r v p <&3
is "$v $p" "3 $((head + 3))" "after a batch: the last event's version and position"
exec 3>&-
is "$(cat "$O/3" | jq -r '"\(.version) \(.global_position)"')" "3 $((head + 3))" \
	"the read-back matches the stored event"
is "$(cat "$O/new" | wc -c)" 0 "new opened read-only still reads as empty"

# ---- Idempotency. -----------------------------------------------------

ID=aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee
is "$(append "$O/new" "Expected-Version: 3
Event-Type: Once
Event-Id: $ID

{\"once\":1}")" ok "an event with a given id"
pos=$(jq -r .global_position < "$O/$(pad 4)")
before=$(state)
exec 3<>"$O/new"
printf 'Expected-Version: 0\nEvent-Type: Once\nEvent-Id: %s\n\n{"once":1}' "$ID" >&3
ok $? "re-appending the same id with a wrong Expected-Version succeeds"
read -r v p <&3
is "$v $p" "4 $pos" "the read-back shows the original version and position"
printf 'Expected-Version: any\nEvent-Type: Once\nEvent-Id: %s\n\n{"once":1}' "${ID^^}" >&3
ok $? "re-appending it with any (id in uppercase) succeeds"
read -r v p <&3
is "$v $p" "4 $pos" "the read-back shows the original again"
exec 3>&-
is "$(state)" "$before" "the retries stored nothing"
is "$(append "$O/new" "Expected-Version: 4
Event-Type: Once
Event-Id: $ID

{\"once\":1}")" ok "a retry with the right Expected-Version also succeeds"
is "$(state)" "$before" "and stores nothing"

I1=10000000-0000-4000-8000-000000000001
I2=10000000-0000-4000-8000-000000000002
I3=10000000-0000-4000-8000-000000000003
batch="[{\"event_type\":\"X\",\"data\":{},\"event_id\":\"$I1\"},{\"event_type\":\"X\",\"data\":{},\"event_id\":\"$I2\"}]"
is "$(append "$O/new" "Expected-Version: 4

$batch")" ok "a batch with ids"
before=$(state)
exec 3<>"$O/new"
printf 'Expected-Version: 0\n\n%s' "$batch" >&3
ok $? "the whole batch retried with the same ids in order succeeds"
read -r v p <&3
is "$v" 6 "its read-back shows the batch's last version"
exec 3>&-
is "$(state)" "$before" "and stores nothing"
is "$(append "$O/new" "Expected-Version: any

[{\"event_type\":\"X\",\"data\":{},\"event_id\":\"$I2\"},{\"event_type\":\"X\",\"data\":{},\"event_id\":\"$I1\"}]")" \
	"File exists" "the batch's ids in another order is a conflict"
is "$(append "$O/new" "Expected-Version: any

[{\"event_type\":\"X\",\"data\":{},\"event_id\":\"$I1\"},{\"event_type\":\"X\",\"data\":{},\"event_id\":\"$I3\"}]")" \
	"File exists" "a batch with only some ids stored is a conflict"
is "$(state)" "$before" "and stores nothing (not even the new id)"
is "$(append "$S/new" "Expected-Version: any
Event-Type: Once
Event-Id: $ID

{\"once\":1}")" "File exists" "the same id in another stream is a conflict"
is "$(state)" "$before" "and stores nothing"
like "$(tail -n 1 "$LOG")" "$ID" "the log names the conflicting id"

# ---- Expected-Version conflicts. --------------------------------------

is "$(append "$S/new" 'Expected-Version: 5
Event-Type: Late

{}')" "File exists" "a wrong Expected-Version is a conflict (EEXIST)"
is "$(state)" "$before" "and stores nothing"
like "$(tail -n 1 "$LOG")" 'Order-1.*expected 5.*actual 11' \
	"the log line names the stream, the expected and the actual version"
is "$(append "$M/streams/Other-1/new" 'Expected-Version: 0
Event-Type: Late

{}')" "File exists" "Expected-Version 0 on a stream with events is a conflict"
is "$(append "$S/new" 'Expected-Version: 12
Event-Type: Early

{}')" "File exists" "an Expected-Version ahead of the stream is a conflict"
is "$(state)" "$before" "and stores nothing"

# ---- Incomplete message at close. -------------------------------------

printf 'Expected-Version: 11\nEvent-Type: T\n\n{"a":' | cat > "$S/new" 2>/dev/null
rc=$?
ok $((rc == 0)) "an incomplete message at close: cat exits non-zero"
is "$(state)" "$before" "and nothing is stored"
# The daemon logs the discard at RELEASE, which the kernel sends after
# close() returns: wait for the line.
for i in $(seq 1 40); do grep -q 'incomplete' "$LOG" && break; sleep 0.05; done
like "$(grep 'incomplete' "$LOG" | tail -n 1)" 'incomplete' "the log says the message was incomplete"
printf 'Expected-Version: 11\nEvent-Ty' | cat > "$S/new" 2>/dev/null
ok $((! $?)) "a message cut in its headers at close: cat exits non-zero"
is "$(state)" "$before" "and nothing is stored"
is "$(append "$S/new" 'Expected-Version: 11
Event-Type: After

{"ok":true}')" ok "the next open of new starts afresh"

# ---- Size limits. -----------------------------------------------------

mkdir "$M/streams/Big-1"
# msg FILE BODY-BYTES: a message whose data is {"s":"xxx…"} of about that size
msg() {
	{ printf 'Expected-Version: any\nEvent-Type: Big\n\n{"s":"'
	  head -c "$2" /dev/zero | tr '\0' x
	  printf '"}\n'; } > "$1"
}
msg "$T/big" $((1100 * 1024))
msg "$T/ok" $((900 * 1024))
before=$(state)
is "$(try bash -c 'cat "$1" > "$2"' _ "$T/big" "$M/streams/Big-1/new")" "File too large" \
	"a 1.1 MiB event at the default limit (1 MiB) is EFBIG"
is "$(state)" "$before" "and stores nothing"
is "$(try bash -c 'cat "$1" > "$2"' _ "$T/ok" "$M/streams/Big-1/new")" ok \
	"a 900 KiB event at the default limit is stored"
is "$(count "$M/streams/Big-1")" 1 "one event in the stream"
big=$(jq -r .data.s < "$M/streams/Big-1/$(pad 1)" | wc -c)
is "$big" $((900 * 1024 + 1)) "and its data is whole"
sz=$(stat -c %s "$M/streams/Big-1/$(pad 1)")
is "$sz" "$(wc -c < "$M/streams/Big-1/$(pad 1)")" "its size is exact"

# ---- Writes the kernel cuts into requests. ----------------------------
# A write() over the kernel's request size (1 MiB) reaches the daemon in
# pieces; a failure in a later piece still reaches the writer as its errno.

# dd_err FILE TARGET: dd FILE to TARGET in one write(); "ok" or the error
dd_err() {
	local out
	if out=$(dd if="$1" of="$2" bs=4M 2>&1); then
		echo ok
	else
		printf '%s\n' "$out" | sed -n 's/^dd: error writing .*: //p'
	fi
}

P=Big-split
mkdir "$M/streams/$P"
append "$M/streams/$P/new" $'Expected-Version: 0\nEvent-Type: T\n\n{}' >/dev/null
blob=$(head -c 1000 /dev/zero | tr '\0' x)
{
	printf 'Expected-Version: 7\n\n['
	for i in $(seq 1 1200); do
		[ "$i" -gt 1 ] && printf ','
		printf '{"event_type":"Big","data":{"blob":"%s"}}' "$blob"
	done
	printf ']\n'
} > "$T/batch.msg"
sed '1s/Expected-Version: 7/Expected-Version: 1/' "$T/batch.msg" > "$T/good.msg"
{ printf 'Expected-Version: any\nEvent-Type: Big\n\n{"blob":"'; head -c 1200000 /dev/zero | tr '\0' y; printf '"}\n'; } > "$T/single.msg"
ok $(($(stat -c %s "$T/batch.msg") > 1100000 ? 0 : 1)) "the batch message is over 1 MiB"
is "$(dd_err "$T/batch.msg" "$M/streams/$P/new")" "File exists" \
	"dd of a 1.2 MiB batch with a wrong version in one write(): File exists"
is "$(count "$M/streams/$P")" 1 "... and nothing is stored"
is "$(dd_err "$T/single.msg" "$M/streams/$P/new")" "File too large" \
	"dd of a 1.2 MiB event in one write(): File too large"
is "$(dd_err "$T/good.msg" "$M/streams/$P/new")" ok \
	"dd of a good 1.2 MiB batch in one write() works"
is "$(count "$M/streams/$P")" 1201 "... and stores all 1200 events"

# ---- A bad header from bash's printf, which writes line by line. ------

P=Bad-header
mkdir "$M/streams/$P"
lines_before=$(grep -c "$P" "$LOG")
is "$(append "$M/streams/$P/new" $'Expected-Version: 0\nBogus: 1\nEvent-Type: T\n\n{"a":1}\n')" \
	"Invalid argument" "a bad header line fails the write"
sleep 0.2	# the release, if it logged anything, comes after close()
is "$(($(grep -c "$P" "$LOG") - lines_before))" 1 "... with exactly one log line"
is "$(count "$M/streams/$P")" 0 "... and nothing is stored"
is "$(append "$M/streams/$P/new" $'Expected-Version: 0\nEvent-Type: T\n\n{"a":1}\n')" ok \
	"the next message on a new open works"

n_all=$(count "$M/all")

unmount_esfs
ok $? "unmounts"
mount_esfs -o max_event=2048 || { ok 1 "mounts with -o max_event=2048"; done_testing; }
ok 0 "mounts again with -o max_event=2048"
is "$(count "$M/all")" "$n_all" "the events are still there"
before=$(state)
msg "$T/3k" 3000
is "$(try bash -c 'cat "$1" > "$2"' _ "$T/3k" "$M/streams/Big-1/new")" "File too large" \
	"a 3000-byte event over max_event=2048 is EFBIG"
is "$(state)" "$before" "and stores nothing"
like "$(tail -n 1 "$LOG")" 'Big-1' "the log line names the stream"
msg "$T/40k" 40000
is "$(try bash -c 'cat "$1" > "$2"' _ "$T/40k" "$M/streams/Big-1/new")" "File too large" \
	"a 40000-byte message is EFBIG too"
is "$(state)" "$before" "and stores nothing"
is "$(append "$M/streams/Big-1/new" "Expected-Version: 1

[{\"event_type\":\"S\",\"data\":{}},{\"event_type\":\"L\",\"data\":{\"s\":\"$(head -c 2100 /dev/zero | tr '\0' y)\"}}]")" \
	"File too large" "a batch with one event over the limit is EFBIG"
is "$(state)" "$before" "and stores nothing"
msg "$T/1k" 1500
is "$(try bash -c 'cat "$1" > "$2"' _ "$T/1k" "$M/streams/Big-1/new")" ok \
	"a 1.5 KiB event under max_event=2048 is stored"
is "$(count "$M/streams/Big-1")" 2 "the stream has two events"


unmount_esfs
ok $? "unmounts cleanly"
done_testing
