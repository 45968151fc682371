#!/bin/bash
# 87-pg-outage.t — a PostgreSQL store whose server stops and comes back
# while the mount stays (check-pg runs it; on a local store it skips). A
# change while the server is gone fails with EIO, one log line each, and
# stores nothing, while events read before still read from the kernel's
# cache; once the server is back the same mount appends again without a remount,
# and every acknowledged event is there once.
. "$(dirname "$0")/lib.sh"

if [ -z "$PG" ]; then
	ok 0 "# SKIP a PostgreSQL store's test (make check-pg)"
	done_testing
fi
cluster=$(printf '%s' "$ESFS_TEST_PG" | sed -n 's/.*[?&]host=\([^&]*\).*/\1/p')
[ -d "$cluster/data" ] || { ok 1 "the cluster's directory is in ESFS_TEST_PG"; done_testing; }

mount_esfs || { ok 1 "esfs mounts"; done_testing; }
mkdir "$M/streams/Out-1"
for v in 0 1 2; do
	is "$(append "$M/streams/Out-1/new" "$(printf 'Expected-Version: %d\nEvent-Type: T\n\n{"v":%d}\n' $v $v)")" \
		ok "append at version $v"
done

first=$(cat "$M/streams/Out-1/00000000000000000001") && all=$(cat "$M/all/00000000000000000002")
ok $? "events read once"

"$TOP/tests/pg-cluster" stop "$cluster"
ok $? "the server stops"
is "$(cat "$M/streams/Out-1/00000000000000000001")" "$first" \
	"an event read before still reads the same, from the kernel's cache"
is "$(cat "$M/all/00000000000000000002")" "$all" "... by its global position too"
lines=$(grep -c "EIO" "$LOG")
is "$(append "$M/streams/Out-1/new" "$(printf 'Expected-Version: 3\nEvent-Type: T\n\n{"v":3}\n')")" \
	"Input/output error" "an append while the server is gone: EIO"
is "$(( $(grep -c "EIO" "$LOG") - lines ))" 1 "... and one log line"
like "$(grep "EIO" "$LOG" | tail -n 1)" "PostgreSQL" "... that names PostgreSQL"

"$TOP/tests/pg-cluster" start "$cluster" > /dev/null
ok $? "the server starts again"
is "$(append "$M/streams/Out-1/new" "$(printf 'Expected-Version: 3\nEvent-Type: T\n\n{"v":3}\n')")" \
	ok "the same mount appends again, no remount"
is "$(cat "$M"/all/* | jq -r .data.v | tr '\n' ' ')" "0 1 2 3 " \
	"every acknowledged event once, nothing of the failed append"
is "$(jq -r .global_position "$M/all/4")" 4 "positions went on without a gap"

unmount_esfs
ok $? "unmounts cleanly"
done_testing
