#!/bin/bash
# 80-crash.t — durability: every append acknowledged before a SIGKILL of the
# daemon is there after a remount, byte for byte, exactly once, with gapless
# versions and positions; a kill in the middle of a concurrent burst of
# appends leaves every acknowledged event and no part of a batch; snapshots
# and checkpoints written before a kill survive; SIGTERM and SIGINT unmount
# cleanly (the daemon exits 0) and lose nothing acknowledged.
. "$(dirname "$0")/lib.sh"

# uuid W I: a unique event id
uuid() {
	printf '%08x-0000-4000-8000-%012x' "$1" "$2"
}

# msg EXPECTED TYPE ID DATA: a single-event append message
msg() {
	printf 'Expected-Version: %s\nEvent-Type: %s\nEvent-Id: %s\n\n%s' "$1" "$2" "$3" "$4"
}

# batch_msg EXPECTED W K: a batch of 5 events tagged "W-K", ids from uuid
batch_msg() {
	local j body=
	for j in 1 2 3 4 5; do
		body="$body${body:+,}{\"event_type\":\"Batched\",\"event_id\":\"$(uuid "$2" $(($3 * 10 + j)))\",\"data\":{\"batch\":\"$2-$3\",\"j\":$j}}"
	done
	printf 'Expected-Version: %s\n\n[%s]' "$1" "$body"
}

# put FILE MESSAGE: one write(); 0 when acknowledged
put() {
	{ printf '%s' "$2" > "$1"; } 2>>"$T/put.err"
}

# stored_ids: every event id in all/, one a line
stored_ids() {
	cat "$M"/all/* | jq -r .event_id
}

# check_store LABEL: versions of every stream and global positions gapless,
# no id twice
check_store() {
	local n s bad=0
	n=$(ls "$M/all" | wc -l)
	is "$(cat "$M"/all/* | jq -r .global_position)" "$(seq 1 "$n")" \
		"$1: global positions are exactly 1..$n"
	is "$(stored_ids | sort | uniq -d | head -n 3)" "" "$1: no event id is stored twice"
	for s in $(ls "$M/streams"); do
		n=$(ls "$M/streams/$s" | grep -vc '^new$')
		[ "$n" -eq 0 ] && continue
		if [ "$(cat "$M/streams/$s"/0* | jq -r .version)" != "$(seq 1 "$n")" ]; then
			bad=1
			diag "$1: stream $s: versions are not 1..$n"
		fi
	done
	ok $bad "$1: every stream's versions are gapless from 1"
}

# missing_ids ACKFILE: acknowledged ids that are not stored
missing_ids() {
	comm -23 <(sort -u "$1") <(stored_ids | sort)
}

# wait_exit PID SECONDS: 0 when PID exited within SECONDS
wait_exit() {
	local i
	for i in $(seq 1 $(($2 * 20))); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

mount_esfs
ok $? "mounted"

# ---- A crash right after 200 single appends and some batches.

for s in 1 2 3 4; do mkdir "$M/streams/Crash-$s"; done
mkdir "$M/streams/Crash-B"
: > "$T/ack1"
declare -A ver=([1]=0 [2]=0 [3]=0 [4]=0)
nacks=0
for i in $(seq 1 200); do
	s=$((i % 4 + 1))
	id=$(uuid 1 "$i")
	if put "$M/streams/Crash-$s/new" "$(msg "${ver[$s]}" Crashed "$id" "{\"i\":$i,\"pad\":\"$(printf '%*s' $((i % 37)) '' | tr ' ' x)\"}")"; then
		ver[$s]=$((ver[$s] + 1))
		echo "$id" >> "$T/ack1"
		nacks=$((nacks + 1))
	fi
done
is "$nacks" 200 "200 single appends with exact expected versions acknowledged one by one"
backs=0
for k in 1 2 3; do
	if put "$M/streams/Crash-B/new" "$(batch_msg $(((k - 1) * 5)) 2 "$k")"; then
		for j in 1 2 3 4 5; do uuid 2 $((k * 10 + j)); echo; done >> "$T/ack1"
		backs=$((backs + 1))
	fi
done
is "$backs" 3 "3 batches of 5 acknowledged"

printf 'Version: 20\n\n{"state":"before crash","n":20}' > "$M/snapshots/Crash-1"
ok $? "a snapshot of Crash-1 is written"
echo 150 > "$M/checkpoints/crash"
ok $? "a checkpoint is written"
snap_before=$(cat "$M/snapshots/Crash-1")
cp_before=$(cat "$M/checkpoints/crash")

# the bytes of every event as read before the crash
(cd "$M" && sha256sum all/* streams/*/0*) > "$T/sha.before"
is "$(wc -l < "$T/sha.before")" 430 "215 events read under both names before the crash"

# a last few appends, and the kill right after the last acknowledgement
: > "$T/ack1b"
for i in $(seq 201 210); do
	id=$(uuid 1 "$i")
	put "$M/streams/Crash-1/new" "$(msg any Crashed "$id" "{\"i\":$i}")" && echo "$id" >> "$T/ack1b"
done
put "$M/streams/Crash-B/new" "$(batch_msg any 2 4)" &&
	for j in 1 2 3 4 5; do uuid 2 $((40 + j)); echo; done >> "$T/ack1b"
kill_esfs
is "$(wc -l < "$T/ack1b")" 15 "10 more appends and a batch acknowledged just before SIGKILL"
mountpoint -q "$M"
ok $((! $?)) "after the kill nothing is mounted"

mount_esfs
ok $? "remounted after SIGKILL"
is "$(missing_ids "$T/ack1" | head -n 3)" "" "every id acknowledged before the hashes is stored"
is "$(missing_ids "$T/ack1b" | head -n 3)" "" "every id acknowledged just before the kill is stored"
is "$(ls "$M/all" | wc -l)" 230 "all/ holds exactly the 230 acknowledged events"
is "$( (cd "$M" && sha256sum $(awk '{print $2}' "$T/sha.before")) )" "$(cat "$T/sha.before")" \
	"every event read before the crash has the same bytes after it"
is "$(cat "$M/streams/Crash-1"/0* | tail -n 10 | jq -r .data.i)" "$(seq 201 210)" \
	"the last single appends are there with their data"
is "$(cat "$M/streams/Crash-B"/0* | jq -r .data.batch | uniq -c | awk '{print $1, $2}')" \
	"$(printf '5 2-%s\n' 1 2 3 4)" "the four batches are whole, in order"
check_store "after SIGKILL"
is "$(cat "$M/snapshots/Crash-1")" "$snap_before" "the snapshot survives the kill"
is "$(cat "$M/checkpoints/crash")" "$cp_before" "the checkpoint survives the kill"
is "$(put "$M/streams/Crash-1/new" "$(msg 60 Crashed "$(uuid 1 999)" '{"after":true}')" && echo ok)" ok \
	"an append with the exact version after the crash is acknowledged"

# ---- A kill in the middle of a burst of concurrent appends.

for s in 1 2 3 B1 B2; do mkdir "$M/streams/Burst-$s"; done
printf 'Version: 3\n\n{"state":"before burst"}' > "$M/snapshots/Crash-B"
ok $? "a snapshot of Crash-B is written before the burst"
echo 231 > "$M/checkpoints/burst"
ok $? "a checkpoint is written before the burst"
snap2_before=$(cat "$M/snapshots/Crash-B")

# single W STREAM: appends until the first failure (at most 3000)
single() {
	local i id
	for i in $(seq 1 3000); do
		id=$(uuid "$1" "$i")
		put "$M/streams/$2/new" "$(msg any Burst "$id" "{\"w\":$1,\"i\":$i}")" || break
		echo "$id" >> "$T/burst.ack.$1"
	done
}
# batches W STREAM: batches of 5 until the first failure (at most 1000)
batches() {
	local k j
	for k in $(seq 1 1000); do
		put "$M/streams/$2/new" "$(batch_msg any "$1" "$k")" || break
		echo "$1-$k" >> "$T/burst.tags.$1"
		for j in 1 2 3 4 5; do uuid "$1" $((k * 10 + j)); echo; done >> "$T/burst.ack.$1"
	done
}

pids=()
for w in 11 12 13; do
	: > "$T/burst.ack.$w"
	single "$w" "Burst-$((w - 10))" &
	pids+=($!)
done
for w in 21 22; do
	: > "$T/burst.ack.$w"; : > "$T/burst.tags.$w"
	batches "$w" "Burst-B$((w - 20))" &
	pids+=($!)
done
# let the burst start, then kill after a short random delay
for i in $(seq 1 100); do
	[ -s "$T/burst.ack.11" ] && [ -s "$T/burst.ack.21" ] && break
	sleep 0.05
done
sleep "0.$((RANDOM % 5 + 1))"
kill_esfs
wait "${pids[@]}"
acked=$(cat "$T"/burst.ack.* | wc -l)
diag "$acked events acknowledged in the burst before the kill"
ok $([ "$acked" -gt 0 ]; echo $?) "the writers had appends acknowledged before the kill"

mount_esfs
ok $? "remounted after a SIGKILL during the burst"
is "$(cat "$T"/burst.ack.* | missing_ids /dev/stdin | head -n 3)" "" \
	"every event acknowledged in the burst is stored"
check_store "after the burst"
tags=$(cat "$M"/all/* | jq -r 'select(.data.batch != null) | .data.batch' | sort | uniq -c |
	awk '$1 != 5 {print $2 " has " $1}' | head -n 3)
is "$tags" "" "every batch is stored whole or not at all"
bad=0
for s in B1 B2; do
	n=$(ls "$M/streams/Burst-$s" | grep -vc '^new$')
	# each batch takes 5 consecutive versions starting at 5k+1 and 5
	# consecutive positions
	got=$(cat "$M/streams/Burst-$s"/0* | jq -r '"\(.data.batch) \(.data.j) \(.version) \(.global_position)"' |
		awk '{ if ($2 == 1) { b = $1; v = $3; p = $4; if ((v - 1) % 5) print "bad start " $0 }
		       else if ($1 != b || $3 != v + $2 - 1 || $4 != p + $2 - 1) print "bad " $0 }' | head -n 3)
	[ -z "$got" ] || { bad=1; diag "Burst-$s: $got"; }
	[ $((n % 5)) -eq 0 ] || { bad=1; diag "Burst-$s: $n events, not a multiple of 5"; }
done
ok $bad "each stored batch has consecutive versions and positions"
is "$(cat "$T"/burst.tags.* | sort | comm -23 - <(cat "$M"/all/* | jq -r 'select(.data.batch != null) | .data.batch' | sort -u))" "" \
	"every acknowledged batch is stored"
is "$(cat "$M/snapshots/Crash-B")" "$snap2_before" "the snapshot written before the burst survives"
is "$(cat "$M/checkpoints/burst")" 231 "the checkpoint written before the burst survives"
is "$(cat "$M/checkpoints/crash")" "$cp_before" "the checkpoint from before the first crash is still there"

# ---- SIGTERM and SIGINT unmount cleanly and lose nothing.

for sig in TERM INT; do
	: > "$T/ack.$sig"
	for i in $(seq 1 20); do
		id=$(uuid 30 "$i$((${#sig}))")
		put "$M/streams/Crash-2/new" "$(msg any "Sig$sig" "$id" "{\"sig\":\"$sig\",\"i\":$i}")" &&
			echo "$id" >> "$T/ack.$sig"
	done
	is "$(wc -l < "$T/ack.$sig")" 20 "SIG$sig: 20 appends acknowledged"
	n_before=$(ls "$M/all" | wc -l)
	sha_before=$(cat "$M"/all/* | sha256sum)
	pid=$PID
	kill -"$sig" "$pid"
	if wait_exit "$pid" 10; then
		wait "$pid"
		is "$?" 0 "SIG$sig: the daemon exits 0"
		PID=
	else
		ok 1 "SIG$sig: the daemon exits 0"
		ign=$(awk '/SigIgn/ {print $2}' /proc/"$pid"/status)
		diag "SIG$sig: the daemon still runs 10 s later; unmounting it (SigIgn $ign)"
		[ "$sig" = INT ] && [ $((0x$ign & 2)) -ne 0 ] &&
			diag "SIGINT is ignored in the daemon: inherited from the shell that started it in the background, and fuse_set_signal_handlers() only replaces SIG_DFL"
		unmount_esfs
	fi
	mountpoint -q "$M"
	ok $((! $?)) "SIG$sig: nothing is mounted afterwards"
	mount_esfs
	ok $? "SIG$sig: remounted"
	is "$(missing_ids "$T/ack.$sig" | head -n 3)" "" "SIG$sig: every acknowledged append is stored"
	is "$(ls "$M/all" | wc -l)" "$n_before" "SIG$sig: no event more or less"
	is "$(cat "$M"/all/* | sha256sum)" "$sha_before" "SIG$sig: all/ reads the same bytes"
done

unmount_esfs
ok $? "unmounts cleanly at the end"

done_testing
