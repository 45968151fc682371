#!/bin/bash
# 70-concurrency.t — concurrent appends through the mount: writers to one
# shared stream and to their own streams lose and duplicate nothing and
# leave versions and global positions gapless, in commit order; writers
# racing on exact expected versions get exactly one winner per version and
# "File exists" for every loser; readers listing and reading all/ while
# appends run see gapless, growing listings and whole events only.
. "$(dirname "$0")/lib.sh"

# uuid W I: a unique event id for writer W's I-th event
uuid() {
	printf '%08x-0000-4000-8000-%012x' "$1" "$2"
}

# msg EXPECTED TYPE ID DATA: an append message
msg() {
	printf 'Expected-Version: %s\nEvent-Type: %s\nEvent-Id: %s\n\n%s' "$1" "$2" "$3" "$4"
}

# padded N: the padded names 1 … N, one a line
padded() {
	[ "$1" -gt 0 ] && printf '%020d\n' $(seq 1 "$1")
	return 0
}

# writer_any W STREAM COUNT ACKFILE: COUNT appends with Expected-Version:
# any, each with its own id; records each acknowledged id.
writer_any() {
	local w=$1 s=$2 count=$3 ack=$4 i id m
	for i in $(seq 1 "$count"); do
		id=$(uuid "$w" "$i")
		m=$(msg any Tick "$id" "{\"writer\":$w,\"i\":$i}")
		if printf '%s' "$m" > "$M/streams/$s/new" 2>>"$T/err.$w"; then
			echo "$id" >> "$ack"
		fi
	done
}

mount_esfs
ok $? "mounted"

# ---- (a) six writers: three on one shared stream, three on their own.

mkdir "$M/streams/Shared-1" "$M/streams/Own-1" "$M/streams/Own-2" "$M/streams/Own-3"
ok $? "mkdir of the streams"

# (a bare wait would wait for lib.sh's watchdog too)
pids=()
for w in 1 2 3; do
	writer_any "$w" Shared-1 100 "$T/ack.$w" &
	pids+=($!)
done
for w in 4 5 6; do
	writer_any "$w" "Own-$((w - 3))" 100 "$T/ack.$w" &
	pids+=($!)
done
wait "${pids[@]}"

cat "$T"/ack.[1-6] > "$T/acked" 2>/dev/null
is "$(wc -l < "$T/acked")" 600 "all 600 appends with Expected-Version: any were acknowledged"
is "$(cat "$T"/err.[1-6] 2>/dev/null | head -n 3)" "" "no writer saw an error"

cat "$M"/all/* > "$T/all.a"
ok $? "cat all/* exits 0"
is "$(jq -r .event_id < "$T/all.a" | sort | uniq -d | head -n 5)" "" "no event id appears twice in all/"
is "$(jq -r .event_id < "$T/all.a" | wc -l)" "$(wc -l < "$T/acked")" \
	"all/ holds as many events as were acknowledged"
sort "$T/acked" > "$T/acked.sorted"
jq -r .event_id < "$T/all.a" | sort > "$T/stored.sorted"
is "$(comm -23 "$T/acked.sorted" "$T/stored.sorted" | head -n 5)" "" \
	"every acknowledged id is in all/"
is "$(comm -13 "$T/acked.sorted" "$T/stored.sorted" | head -n 5)" "" \
	"nothing unacknowledged is in all/"

total=$(wc -l < "$T/acked")
is "$(jq -r .global_position < "$T/all.a")" "$(seq 1 "$total")" \
	"global positions are exactly 1..$total in glob order"
is "$(ls "$M/all")" "$(padded "$total")" "all/ lists exactly the padded names 1..$total"

for s in Shared-1 Own-1 Own-2 Own-3; do
	case $s in
	Shared-1) n=300; acks="$T/ack.1 $T/ack.2 $T/ack.3" ;;
	Own-*) n=100; acks="$T/ack.$((${s#Own-} + 3))" ;;
	esac
	is "$(cat "$M/streams/$s"/0* | jq -r .version)" "$(seq 1 "$n")" \
		"$s: versions are exactly 1..$n"
	is "$(ls "$M/streams/$s" | grep -v '^new$')" "$(padded "$n")" \
		"$s: the directory lists exactly the padded versions 1..$n"
	is "$(cat "$M/streams/$s"/0* | jq -r .event_id | sort)" "$(cat $acks | sort)" \
		"$s: holds exactly the ids acknowledged for it"
	is "$(jq -r --arg s "$s" 'select(.stream_id == $s) | .version' < "$T/all.a")" \
		"$(seq 1 "$n")" "$s: versions follow global order"
	# the same event under both names is the same bytes
	is "$(cat "$M/streams/$s"/0* | sha256sum)" \
		"$(jq -c --arg s "$s" 'select(.stream_id == $s)' < "$T/all.a" | sha256sum)" \
		"$s: its events read the same as in all/"
done

# Each writer's own events are in the order it appended them.
bad=0
for w in 1 2 3 4 5 6; do
	got=$(jq -r --argjson w "$w" 'select(.data.writer == $w) | .data.i' < "$T/all.a")
	[ "$got" = "$(seq 1 100)" ] || { bad=1; diag "writer $w: events out of order"; }
done
ok $bad "every writer's events are in all/ in the order it appended them"

# ---- (b) four writers racing on exact expected versions.

mkdir "$M/streams/Race-1"
ok $? "mkdir streams/Race-1"

# racer W: for v in 0..49, one attempt with Expected-Version: v; records
# "v ok" or "v conflict", or "v other: ERROR" for any other failure.
racer() {
	local w=$1 v id err
	for v in $(seq 0 49); do
		id=$(uuid "$((100 + w))" "$v")
		if printf '%s' "$(msg "$v" Raced "$id" "{\"racer\":$w,\"v\":$v}")" \
			> "$M/streams/Race-1/new" 2>"$T/race.err.$w"; then
			echo "$v ok"
		else
			err=$(tail -n 1 "$T/race.err.$w")
			err=${err##*: }
			if [ "$err" = "File exists" ]; then
				echo "$v conflict"
			else
				echo "$v other: $err"
			fi
		fi
	done > "$T/race.$w"
}

pids=()
for w in 1 2 3 4; do
	racer "$w" &
	pids+=($!)
done
wait "${pids[@]}"

is "$(cat "$T"/race.[1-4] | wc -l)" 200 "the racers made 200 attempts"
is "$(cat "$T"/race.[1-4] | grep -v -e ' ok$' -e ' conflict$' | head -n 5)" "" \
	"every failed attempt failed with File exists"
is "$(cat "$T"/race.[1-4] | awk '$2 == "ok" {print $1}' | sort -n)" "$(seq 0 49)" \
	"for each expected version 0..49 exactly one racer succeeded"
is "$(ls "$M/streams/Race-1" | grep -v '^new$' | wc -l)" 50 "Race-1 has exactly 50 events"
is "$(cat "$M/streams/Race-1"/0* | jq -r .version)" "$(seq 1 50)" \
	"Race-1: versions are exactly 1..50"
# the event at version v+1 is the one whose racer recorded "v ok"
want=$(for w in 1 2 3 4; do awk -v w="$w" '$2 == "ok" {print $1 + 1, w}' "$T/race.$w"; done | sort -n)
is "$(cat "$M/streams/Race-1"/0* | jq -r '"\(.version) \(.data.racer)"')" "$want" \
	"each version holds the event of the racer that was told ok"
is "$(cat "$M/streams/Race-1"/0* | jq -r '.data.v + 1 == .version' | sort -u)" "true" \
	"each event was appended with the expected version one below its own"

# ---- (c) readers during appends.

mkdir "$M/streams/Read-1" "$M/streams/Read-2"
before=$(ls "$M/all" | wc -l)
writer_any 11 Read-1 200 "$T/ack.11" &
wa=$!
writer_any 12 Read-2 200 "$T/ack.12" &
wb=$!

prev=0
listing_bad=0
shrunk=0
grew=0
events_bad=0
find_bad=0
stream_bad=0
for i in $(seq 1 30); do
	names=$(ls "$M/all")
	n=$(printf '%s\n' "$names" | grep -c .)
	if [ "$names" != "$(padded "$n")" ]; then
		listing_bad=$((listing_bad + 1))
		diag "iteration $i: listing of $n names is not 1..$n"
	fi
	if [ "$n" -lt "$prev" ]; then
		shrunk=$((shrunk + 1))
		diag "iteration $i: listing shrank from $prev to $n"
	fi
	[ "$n" -gt "$prev" ] && [ "$i" -gt 1 ] && grew=$((grew + 1))
	prev=$n
	# a glob, then cat: each file is one whole event
	files=("$M"/all/*)
	cat "${files[@]}" > "$T/read.c" || events_bad=$((events_bad + 1))
	got=$(jq -r .global_position < "$T/read.c" 2>&1)
	if [ "$got" != "$(seq 1 "${#files[@]}")" ] ||
	   [ "$(wc -l < "$T/read.c")" -ne "${#files[@]}" ]; then
		events_bad=$((events_bad + 1))
		diag "iteration $i: cat of ${#files[@]} events did not give ${#files[@]} whole events"
	fi
	# find over the whole tree: no error
	if ! find "$M" -type f > "$T/find.out" 2> "$T/find.err" || [ -s "$T/find.err" ]; then
		find_bad=$((find_bad + 1))
		diag "iteration $i: find: $(head -n 2 "$T/find.err")"
	fi
	# a stream being appended to: its glob reads as versions 1..k
	vfiles=("$M"/streams/Read-1/0*)
	[ -e "${vfiles[0]}" ] || vfiles=()
	if [ "${#vfiles[@]}" -gt 0 ] &&
	   [ "$(cat "${vfiles[@]}" | jq -r .version)" != "$(seq 1 "${#vfiles[@]}")" ]; then
		stream_bad=$((stream_bad + 1))
		diag "iteration $i: streams/Read-1/* was not versions 1..${#vfiles[@]}"
	fi
done
wait "$wa" "$wb"
diag "all/ grew between $grew of the 30 listings"

is "$listing_bad" 0 "every listing of all/ during appends was gapless from 1"
is "$shrunk" 0 "no listing of all/ was shorter than the one before"
is "$events_bad" 0 "every cat of all/* during appends gave whole events that parse"
is "$find_bad" 0 "every find over the tree during appends ran without an error"
is "$stream_bad" 0 "every cat of a stream during appends gave its versions 1..k"
ok $([ "$prev" -ge "$before" ]; echo $?) "the readers saw all/ as it was before the appends, or longer"
after=$(ls "$M/all" | wc -l)
is "$after" "$((before + $(cat "$T/ack.11" "$T/ack.12" | wc -l)))" \
	"after the appends all/ holds every acknowledged event"
is "$(cat "$M"/all/* | jq -r .global_position)" "$(seq 1 "$after")" \
	"global positions are still exactly 1..$after"

unmount_esfs
ok $? "unmounts cleanly"

done_testing
