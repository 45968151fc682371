#!/bin/bash
# 89-pg-failover.t — one PostgreSQL store on two "hosts" and a standby
# (check-pg runs it; on a local store it skips). A primary and a streaming
# standby of its own (synchronous, remote_apply), two read-write mounts of
# the store whose URI names both servers (target_session_attrs=read-write),
# and a read-only mount on the standby alone:
#   1. an append on one mount is visible on the other, and on the standby's,
#      as soon as its write() returns;
#   2. a subscription on one wakes on an append on the other;
#   3. racing exact-version appends from both: one winner a version;
#      racing retries of one event id: stored once;
#   4. readers on both mounts never see a hole in positions 1 … head while
#      both append;
#   5. under load, kill -9 of one daemon (then mounted again), and an
#      immediate stop of the primary followed by the standby's promotion:
#      the writers retry by event id until they are acknowledged, and
#      afterwards every acknowledged event is there exactly once, with
#      gapless positions and versions, the mounts go on against the
#      new primary, and esfsctl verify finds the store there clean.
. "$(dirname "$0")/lib.sh"

if [ -z "$PG" ]; then
	ok 0 "# SKIP a PostgreSQL store's test (make check-pg)"
	done_testing
fi
chmod 711 "$T"	# the servers run as postgres, under $T
PC="$TOP/tests/pg-cluster"
P=$("$PC" start "$T/p") || { ok 1 "the primary starts"; done_testing; }
S=$("$PC" standby "$T/s" "$T/p") || { ok 1 "the standby starts"; done_testing; }
_stop_servers() { "$PC" stop "$T/s" immediate; "$PC" stop "$T/p" immediate; } 2>/dev/null
trap '_stop_servers; _cleanup' EXIT
psql -q "$P" -c "ALTER SYSTEM SET synchronous_standby_names = '*'" \
	-c "ALTER SYSTEM SET synchronous_commit = 'remote_apply'" -c "SELECT pg_reload_conf()" >/dev/null
ok $? "the primary waits for the standby to apply each commit"

both="postgresql:///esfs?host=$T/p,$T/s&port=$(cat "$T/p/port"),$(cat "$T/s/port")&user=esfs&target_session_attrs=read-write"
MA=$T/a MB=$T/b MR=$T/r
mkdir -p "$MA" "$MB" "$MR"

# mount_at VAR MOUNTPOINT URI [OPTIONS]: a daemon in the foreground; its
# pid in VAR.
mount_at() {
	local var=$1 mnt=$2 uri=$3 i
	shift 3
	"$ESFS" -f "$@" "$uri" "$mnt" 2>>"$LOG" &
	printf -v "$var" %s $!
	for i in $(seq 1 200); do
		[ -d "$mnt/streams" ] && return 0
		sleep 0.05
	done
	return 1
}
mount_at PA "$MA" "$both"; ok $? "host A mounts the store"
mount_at PB "$MB" "$both"; ok $? "host B mounts it too"
mount_at PR "$MR" "$S" -o ro; ok $? "a read-only mount on the standby"
_unmount_all() {
	local m
	for m in "$MA" "$MB" "$MR"; do
		fusermount3 -u "$m" 2>/dev/null || fusermount3 -u -z "$m" 2>/dev/null
	done
	wait "$PA" "$PB" "$PR" 2>/dev/null
}
trap '_unmount_all; _stop_servers; _cleanup' EXIT

# 1. Read your writes, across hosts.
mkdir "$MA/streams/Vis-1"
is "$(ls "$MB/streams")" "Vis-1" "a stream made on A is listed on B"
is "$(append "$MA/streams/Vis-1/new" "$(printf 'Expected-Version: 0\nEvent-Type: T\n\n{"n":1}\n')")" ok \
	"an append on A"
is "$(cat "$MB/all/$(pad 1)")" "$(cat "$MA/all/$(pad 1)")" "B reads it at once, byte for byte"
is "$(jq -r .data.n "$MR/all/$(pad 1)")" 1 "and so does the standby's read-only mount"
is "$(ls "$MB/streams/Vis-1" | tr '\n' ' ')" "$(pad 1) new " "B lists it in the stream"

# 2. A subscription on B wakes on A's append.
echo 1 > "$MB/checkpoints/w"
timeout 10 head -n 1 "$MB/subscriptions/w" > "$T/woke" 2>/dev/null &
waiter=$!
sleep 0.5
append "$MA/streams/Vis-1/new" "$(printf 'Expected-Version: 1\nEvent-Type: T\n\n{"n":2}\n')" > /dev/null
wait "$waiter"
is "$(jq -r .global_position "$T/woke")" 2 "a subscription on B wakes on A's append"

# 3. Racing on one version from both hosts, and retries of one id.
mkdir "$MA/streams/Race-1"
wins=0
for v in $(seq 0 19); do
	msg=$(printf 'Expected-Version: %d\nEvent-Type: T\n\n{"v":%d}\n' "$v" "$v")
	append "$MA/streams/Race-1/new" "$msg" > "$T/ra" & r1=$!
	append "$MB/streams/Race-1/new" "$msg" > "$T/rb" & r2=$!
	wait "$r1" "$r2"
	w=$(cat "$T/ra" "$T/rb" | grep -c '^ok$')
	wins=$((wins + (w == 1)))
done
is "$wins" 20 "20 versions raced from both hosts: one winner each"
is "$(ls "$MA/streams/Race-1" | grep -c '^0')" 20 "the stream has 20 events"
id=7d3e9a52-0000-4000-8000-00000000abcd
msg=$(printf 'Expected-Version: any\nEvent-Type: T\nEvent-Id: %s\n\n{}\n' "$id")
append "$MA/streams/Race-1/new" "$msg" > "$T/ra" & r1=$!
append "$MB/streams/Race-1/new" "$msg" > "$T/rb" & r2=$!
wait "$r1" "$r2"
is "$(cat "$T/ra" "$T/rb" | tr '\n' ' ')" "ok ok " "one id appended from both hosts at once: both succeed"
is "$(cat "$MA"/streams/Race-1/0* | grep -c "$id")" 1 "... and it is stored once"

# 4 and 5. Load from both hosts, readers checking for holes, a daemon
# killed, and the primary lost.
# writer MOUNT STREAM N: N appends with ids, each retried (the same id)
# until acknowledged; the acknowledged ids go to $T/acked.STREAM.
writer() {
	local m=$1 s=$2 n=$3 i id try
	for i in $(seq 1 "$n"); do
		id=$(printf '%08x-0000-4000-8000-%012d' "$(printf %s "$s" | cksum | cut -d' ' -f1)" "$i")
		msg=$(printf 'Expected-Version: any\nEvent-Type: Load\nEvent-Id: %s\n\n{"i":%d}\n' "$id" "$i")
		for try in $(seq 1 900); do
			if [ "$(append "$m/streams/$s/new" "$msg")" = ok ]; then
				echo "$id" >> "$T/acked.$s"
				break
			fi
			sleep 0.1
		done
	done
}
# holes MOUNT: reads feed/0 until $T/stop appears; says "hole" once if
# positions 1 … k ever skip one.
holes() {
	while [ ! -e "$T/stop" ]; do
		cat "$1/feed/0" 2>/dev/null | jq -r .global_position 2>/dev/null |
			awk '$1 != NR { print "hole at " NR; exit }'
	done | head -n 1
}
mkdir "$MA/streams/Load-A" "$MA/streams/Load-B"
holes "$MA" > "$T/holes.a" & ha=$!
holes "$MB" > "$T/holes.b" & hb=$!
writer "$MA" Load-A 150 & wa=$!
writer "$MB" Load-B 150 & wb=$!
sleep 2
kill -9 "$PB"; wait "$PB" 2>/dev/null
fusermount3 -u -z "$MB" 2>/dev/null
mount_at PB "$MB" "$both"
ok $? "B killed with SIGKILL mid-load, and mounted again"
sleep 1
"$PC" stop "$T/p" immediate
ok $? "the primary stops at once"
mid=$(cat "$T"/acked.* 2>/dev/null | wc -l)
ok $([ "$mid" -gt 0 ] && [ "$mid" -lt 300 ]; echo $?) "... mid-load: $mid of the 300 appends acknowledged then"
"$PC" promote "$T/s"
ok $? "the standby is promoted"
wait "$wa" "$wb"
touch "$T/stop"
wait "$ha" "$hb"
is "$(cat "$T/holes.a" "$T/holes.b")" "" "readers on A and B never saw a hole in the positions"
is "$(wc -l < "$T/acked.Load-A") $(wc -l < "$T/acked.Load-B")" "150 150" \
	"every append was acknowledged in the end, by the new primary"
cat "$MA"/all/* > "$T/all"
for s in Load-A Load-B; do
	is "$(jq -r "select(.stream_id == \"$s\") | .event_id" "$T/all" | sort | uniq -d)" "" \
		"$s: no event id stored twice"
	is "$(jq -r "select(.stream_id == \"$s\") | .event_id" "$T/all" | sort)" \
		"$(sort "$T/acked.$s")" "$s: exactly the acknowledged events"
	is "$(jq -r "select(.stream_id == \"$s\") | .version" "$T/all" | awk '$1 != NR { print "gap at " NR; exit }')" "" \
		"$s: versions 1 … 150 without a gap"
done
is "$(jq -r .global_position "$T/all" | awk '$1 != NR { print "gap at " NR; exit }')" "" \
	"positions 1 … head without a gap or a reuse"
is "$(cat "$MB"/all/* | sha256sum)" "$(sha256sum < "$T/all")" "B reads the same log"
is "$(append "$MB/streams/Vis-1/new" "$(printf 'Expected-Version: any\nEvent-Type: T\n\n{}\n')")" ok \
	"B appends on the new primary"
is "$(jq -r .stream_id "$MR/all/$(pad "$(wc -l < "$T/all")")")" "$(jq -r .stream_id < <(tail -n 1 "$T/all"))" \
	"the read-only mount, on what is now the primary, reads the log"
"${ESFSCTL:-$TOP/bin/esfsctl}" verify "$S" > "$T/verify" 2>&1
is "$?" 0 "esfsctl verify of the store on the promoted primary exits 0"
like "$(cat "$T/verify")" "no problems" "... and finds no problems: $(tail -n 1 "$T/verify")"
done_testing
