#!/bin/bash
# 10-tree.t — the tree (README.md, "The tree"): the root, stream directories and
# their listings, event files (names, plain-number lookups, one inode in
# streams/S and all/, mode, size, mtime), the envelope (key order, one
# line, data kept byte for byte less insignificant whitespace), versions and
# global positions across interleaved streams, stream names (UTF-8, the
# name rules), mkdir/rmdir of streams, and whole-tree tools (find, ls -l).
. "$(dirname "$0")/lib.sh"
export TZ=UTC

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

# ---- The root and an empty stream. ------------------------------------

is "$(ls "$M" | tr '\n' ' ')" "all categories checkpoints feed snapshots streams subscriptions types " \
	"ls of the root shows exactly all categories checkpoints feed snapshots streams subscriptions types"

A=Order-abc123
B='Kunde-ü注文'
is "$(try mkdir "$M/streams/$A")" ok "mkdir streams/$A"
is "$(ls -A "$M/streams/$A")" new "a new stream directory holds only new"
is "$(cat "$M/streams/$A/"*)" "" "cat of an empty stream prints nothing"
is "$(try mkdir "$M/streams/$B")" ok "mkdir of a stream with a UTF-8 name"
is "$(ls "$M/streams" | tr '\n' ' ')" "$B $A " "ls streams lists both streams"

# ---- Appends to two interleaved streams. ------------------------------
# 20 events: A gets 12, B gets 8, in this global order.

order=(A A B A B B A A A B A B A A B A B A A B)
va=0 vb=0
data_a=() data_b=() data_all=()
bad=0
for i in "${!order[@]}"; do
	g=$((i + 1))
	if [ "${order[$i]}" = A ]; then
		s=$A v=$va
		va=$((va + 1))
		d="{\"n\":$g,\"s\":\"a\"}"
		data_a+=("$d")
	else
		s=$B v=$vb
		vb=$((vb + 1))
		d="{\"n\":$g,\"s\":\"b\"}"
		data_b+=("$d")
	fi
	data_all+=("$d")
	# whitespace in the body, removed in the stored data
	body=$(printf '%s' "$d" | sed 's/,/ ,\n\t/; s/:/ : /g')
	r=$(append "$M/streams/$s/new" "Expected-Version: $v
Event-Type: Item${order[$i]}

$body")
	[ "$r" = ok ] || { bad=1; diag "append $g to $s: $r"; }
done
ok $bad "20 appends to two interleaved streams succeed"

want_ls_a=$(for v in $(seq 1 12); do pad "$v"; echo; done; echo new)
is "$(ls "$M/streams/$A")" "$want_ls_a" \
	"ls streams/S shows the 20-digit zero-padded names, then new"
is "$(ls "$M/streams/$B" | wc -l)" 9 "the second stream lists 8 events and new"
is "$(ls "$M/all" | wc -l)" 20 "all/ lists 20 events"
is "$(ls "$M/all" | grep -Evc '^[0-9]{20}$')" 0 "all/ lists only 20-digit names"
is "$(ls "$M/streams/$A" | grep -Evc '^([0-9]{20}|new)$')" 0 \
	"a stream lists only 20-digit names and new"

# ---- cat of a whole stream and of all/. -------------------------------

out=$(cat "$M/streams/$A/"*)
ok $? "cat streams/S/* exits 0"
is "$(printf '%s\n' "$out" | wc -l)" 12 "cat streams/S/* prints 12 lines"
is "$(printf '%s\n' "$out" | jq -c .data)" "$(printf '%s\n' "${data_a[@]}")" \
	"cat streams/S/* prints the stream's events in order (new reads as empty)"
is "$(printf '%s\n' "$out" | jq -r .version | tr '\n' ' ')" "$(seq -s ' ' 1 12) " \
	"versions of the first stream are 1 … 12"
is "$(cat "$M/streams/$B/"* | jq -r .version | tr '\n' ' ')" "$(seq -s ' ' 1 8) " \
	"versions of the second stream are 1 … 8"
is "$(cat "$M/streams/$B/"* | jq -c .data)" "$(printf '%s\n' "${data_b[@]}")" \
	"the second stream's events in order"
is "$(cat "$M/streams/$A/new" | wc -c)" 0 "new reads as empty"

out=$(cat "$M/all/"*)
ok $? "cat all/* exits 0"
is "$(printf '%s\n' "$out" | jq -c .data)" "$(printf '%s\n' "${data_all[@]}")" \
	"cat all/* prints every event in global (commit) order"
is "$(printf '%s\n' "$out" | jq -r .global_position | tr '\n' ' ')" "$(seq -s ' ' 1 20) " \
	"global positions are 1 … 20, no gaps"
is "$(printf '%s\n' "$out" | jq -r '.stream_id' | sed "s/^$A\$/A/; s/^$B\$/B/" | tr -d '\n')" \
	"$(printf '%s' "${order[@]}")" "all/ interleaves the two streams as appended"
is "$(printf '%s\n' "$out" | jq -r '.global_position as $g | select(.data.n != $g) | $g' | wc -l)" 0 \
	"each event's global position is its commit order"
is "$(cat "$M/streams/$A/"* "$M/streams/$B/"* | sort | sha256sum)" \
	"$(printf '%s\n' "$out" | sort | sha256sum)" \
	"the events under streams/ are exactly the events under all/"

# ---- Plain-number lookups. --------------------------------------------

is "$(cat "$M/streams/$A/2" | sha256sum)" "$(cat "$M/streams/$A/$(pad 2)" | sha256sum)" \
	"cat streams/S/2 gives the bytes of streams/S/$(pad 2)"
is "$(cat "$M/all/17" | sha256sum)" "$(cat "$M/all/$(pad 17)" | sha256sum)" \
	"cat all/17 gives the bytes of all/$(pad 17)"
is "$(jq -r .global_position < "$M/all/17")" 17 "all/17 is the event at global position 17"
is "$(ls "$M/all" | grep -c '^17$')" 0 "ls all shows no plain-number name"
is "$(try cat "$M/streams/$A/13")" "No such file or directory" \
	"a version past the stream's end does not exist"
is "$(try cat "$M/all/0")" "No such file or directory" "all/0 does not exist"
is "$(try cat "$M/streams/$A/$(pad 0)")" "No such file or directory" \
	"streams/S/$(pad 0) does not exist"

# ---- One inode in streams/S and all/. ---------------------------------

f2=$M/streams/$A/$(pad 2)
g2=$(jq -r .global_position < "$f2")
is "$(stat -c %i "$f2")" "$(stat -c %i "$M/all/$(pad "$g2")")" \
	"the same event in streams/S and all/ has the same st_ino"
is "$(stat -c %h "$f2")" 4 "st_nlink of an event of $A is 4: streams/$A, all, types/T, categories/Order"
is "$(stat -c %h "$M/all/$(pad "$g2")")" 4 "the same in all/"
is "$(stat -c %i "$M/streams/$A/2")" "$(stat -c %i "$f2")" \
	"the plain-number name is the same inode"
is "$(stat -c %i "$M/all/$(pad 1)")" "$(stat -c %i "$M/streams/$A/$(pad 1)")" \
	"all/1 and streams/S/1 (the first event) are one inode"
[ "$(stat -c %i "$M/all/$(pad 1)")" != "$(stat -c %i "$M/all/$(pad 2)")" ]
ok $? "different events have different inodes"

# ---- Event file attributes. -------------------------------------------

bad=0
for f in "$M/streams/$A/"0* "$M/all/"*; do
	[ "$(stat -c %a "$f")" = 444 ] || { bad=1; diag "$f: mode $(stat -c %a "$f")"; }
done
ok $bad "every event file is mode 0444"
bad=0
for f in "$M/streams/$A/"0* "$M/all/"*; do
	[ "$(stat -c %s "$f")" = "$(wc -c < "$f")" ] ||
		{ bad=1; diag "$f: st_size $(stat -c %s "$f"), $(wc -c < "$f") bytes"; }
done
ok $bad "every event file's st_size is its byte count"
bad=0
for f in "$M/all/"*; do
	c=$(jq -r .created_at < "$f")
	want=$(printf '%s' "$c" | sed -E 's/^([0-9-]+)T([0-9:]+)\.([0-9]{6})Z$/\1 \2.\3000 +0000/')
	[ "$(stat -c %y "$f")" = "$want" ] ||
		{ bad=1; diag "$f: mtime $(stat -c %y "$f"), created_at $c"; }
done
ok $bad "every event file's st_mtime is its created_at, to the microsecond"
like "$(jq -r .created_at < "$M/all/$(pad 1)")" \
	'^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$' \
	"created_at is UTC with microseconds"
c1=$(date -d "$(jq -r .created_at < "$M/all/$(pad 1)")" +%s)
now=$(date +%s)
ok $(( c1 <= now && c1 > now - 3600 ? 0 : 1 )) "created_at is the commit time (this hour)"
is "$(stat -c %a "$M/streams/$A/new")" 644 "new is mode 0644"
is "$(stat -c %s "$M/streams/$A/new")" 0 "new has size 0"
is "$(stat -c %F "$M/streams/$A/new")" "regular empty file" "new is a regular file"

# ---- The envelope. ----------------------------------------------------

f=$M/streams/$A/$(pad 1)
is "$(jq -c keys_unsorted < "$f")" \
	'["event_id","stream_id","event_type","version","schema_version","data","metadata","global_position","created_at"]' \
	"envelope keys in the contract's order"
is "$(wc -l < "$f")" 1 "an event file is one line"
is "$(tail -c 1 "$f" | od -An -c | tr -d ' ')" '\n' "an event file ends in a newline"
is "$(jq -r .stream_id < "$f")" "$A" "stream_id is the stream's name"
is "$(jq -r .event_type < "$f")" ItemA "event_type is the Event-Type header"
is "$(jq -r .schema_version < "$f")" 1 "schema_version defaults to 1"
is "$(jq -c .metadata < "$f")" '{}' "metadata without headers is {}"
like "$(jq -r .event_id < "$f")" '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' \
	"event_id is a lowercase UUID"
like "$(cat "$f")" "\"data\":\\{\"n\":1,\"s\":\"a\"\\}," \
	"spaces, newlines and tabs between tokens are removed from data"
is "$(jq -r .stream_id < "$M/streams/$B/$(pad 1)")" "$B" "a UTF-8 stream name is kept in stream_id"

# number text and escapes byte for byte
mkdir "$M/streams/Raw-1"
r=$(append "$M/streams/Raw-1/new" 'Expected-Version: 0
Event-Type: Raw

{ "a" : 1.0 ,	"b":0.1,
  "c" : [ 1e5 , 12345678901234567890, -0, 2E-3 ],
	"s":"\u00e9\/",  "sp" : "two  spaces\ttab\\n" ,
  "e":{ } , "z" : [ ] , "t" : true, "n":null }
')
is "$r" ok "append a body with odd number text and escapes"
want='{"a":1.0,"b":0.1,"c":[1e5,12345678901234567890,-0,2E-3],"s":"\u00e9\/","sp":"two  spaces\ttab\\n","e":{},"z":[],"t":true,"n":null}'
got=$(sed -E 's/.*"data":(.*),"metadata":.*/\1/' "$M/streams/Raw-1/$(pad 1)")
is "$got" "$want" "data keeps number text and escapes byte for byte, whitespace removed"
is "$(jq -r .data.s < "$M/streams/Raw-1/$(pad 1)")" "é/" "and the escapes still decode"
is "$(wc -l < "$M/streams/Raw-1/$(pad 1)")" 1 "a body spanning lines is stored on one line"

# ---- Stream names. ----------------------------------------------------

is "$(try mkdir "$M/streams/.hidden")" "Invalid argument" "mkdir of a name starting with '.' is EINVAL"
is "$(try mkdir "$M/streams/a$(printf '\t')b")" "Invalid argument" "mkdir of a name with a tab is EINVAL"
is "$(try mkdir "$M/streams/a$(printf '\001')b")" "Invalid argument" "mkdir of a name with ^A is EINVAL"
is "$(try mkdir "$M/streams/a$(printf '\177')b")" "Invalid argument" "mkdir of a name with DEL is EINVAL"
is "$(try mkdir "$M/streams/$(head -c 256 /dev/zero | tr '\0' x)")" "Invalid argument" \
	"mkdir of a 256-byte name is EINVAL"
is "$(try mkdir "$M/streams/$(printf 'é%.0s' $(seq 1 128))")" "Invalid argument" \
	"mkdir of 128 two-byte characters (256 bytes) is EINVAL"
is "$(try mkdir "$M/streams/bad$(printf '\377')name")" "Invalid argument" \
	"mkdir of a name that is not UTF-8 is EINVAL"
long=$(head -c 255 /dev/zero | tr '\0' y)
is "$(try mkdir "$M/streams/$long")" ok "mkdir of a 255-byte name works"
is "$(ls "$M/streams" | grep -c '^\.')" 0 "no bad name was created"
is "$(ls "$M/streams" | wc -l)" 4 "ls streams lists the 4 streams"
is "$(try mkdir "$M/streams/$A")" "File exists" "mkdir of an existing stream is EEXIST"

# ---- rmdir. -----------------------------------------------------------

is "$(try rmdir "$M/streams/$long")" ok "rmdir of an empty stream works"
is "$(try ls -d "$M/streams/$long")" "No such file or directory" "and it is gone"
is "$(try rmdir "$M/streams/$A")" "Directory not empty" "rmdir of a stream with events is ENOTEMPTY"
is "$(ls "$M/streams/$A" | wc -l)" 13 "and it keeps its events"
is "$(try mkdir "$M/streams/$long")" ok "a removed stream's name can be made again"
is "$(ls -A "$M/streams/$long")" new "and it is empty"
rmdir "$M/streams/$long"
is "$(ls "$M/streams" | tr '\n' ' ')" "$B $A Raw-1 " "ls streams lists the streams left"

# ---- Whole-tree tools. ------------------------------------------------

# 21 events under four names each (streams/, all/, types/ and, every stream
# here having a category, categories/) and three new files
is "$(find "$M" -type f | wc -l)" 87 "find -type f counts 21 events four times and 3 new files"
ncat=$(ls "$M/categories" | wc -l)
ntypes=$(ls "$M/types" | wc -l)
is "$ncat $ntypes" "3 3" "3 categories and 3 event types"
is "$(find "$M" -type d | wc -l)" 18 "find -type d counts root, 8 top dirs, 3 streams, 3 categories and 3 types"
out=$(ls -l "$M/all")
ok $? "ls -l all works"
is "$(printf '%s\n' "$out" | grep -c '^-r--r--r-- 4 ')" 21 "ls -l all shows 21 files -r--r--r-- with 4 links (all, streams, types, categories)"
is "$(ls -l "$M/streams/$A" | grep -c ' new$')" 1 "ls -l of a stream shows new"
is "$(stat -c %F "$M/streams/$A")" directory "a stream is a directory"

unmount_esfs
ok $? "esfs unmounts cleanly"
done_testing
