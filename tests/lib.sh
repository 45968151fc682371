# lib.sh — what every shell test shares: TAP output, a real esfs mounted on
# a real store in a temporary directory, and cleanup that unmounts whatever
# happens (failure, timeout, Ctrl-C).
#
#   . "$(dirname "$0")/lib.sh"
#   mount_esfs                 # or: mount_esfs -o ro
#   is "$(cat "$M/checkpoints/c")" 42 "checkpoint reads back"
#   done_testing
#
# Variables: TOP (the source tree), ESFS (the binary; make sets it, else
# bin/esfs), T (the test's
# temporary directory), STORE (store directory), M (mountpoint), LOG (the
# daemon's stderr), PID (the daemon).
#
# With ESFS_TEST_PG set (make check-pg sets it to the URI of a database of
# the private cluster tests/pg-cluster started), STORE is instead the URI
# of a new PostgreSQL database of the test's own, dropped at the end, and
# PG is 1: the contract tests then run against the PostgreSQL backend.

set -u
TOP=$(cd "$(dirname "$0")/.." && pwd)
ESFS=${ESFS:-$TOP/bin/esfs}
T=$(mktemp -d "${TMPDIR:-/tmp}/esfs-test.XXXXXX")
STORE=$T/store
PG=
if [ -n "${ESFS_TEST_PG:-}" ]; then
	PG=1
	_db=esfs_$(basename "$T" | tr -c 'a-zA-Z0-9\n' _ | tr 'A-Z' 'a-z')
	psql -q "$ESFS_TEST_PG" -c "CREATE DATABASE $_db" >/dev/null ||
		{ echo "Bail out! cannot make database $_db"; exit 1; }
	STORE=${ESFS_TEST_PG/:\/\/\/esfs\?/:\/\/\/$_db?}
fi
M=$T/mnt
LOG=$T/esfs.log
PID=
mkdir -p "$M"

_n=0
_failed=0

ok() {	# ok STATUS NAME: passes when STATUS is 0
	_n=$((_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_n - $2"
	else
		_failed=$((_failed + 1))
		echo "not ok $_n - $2"
	fi
}

is() {	# is GOT WANT NAME
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2" | head -c 2000
	fi
}

like() {	# like GOT EXTENDED-REGEX NAME
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:      %s\n#   expected: /%s/\n' "$1" "$2" | head -c 2000
	fi
}

diag() {
	printf '# %s\n' "$*"
}

done_testing() {
	echo "1..$_n"
	[ "$_failed" -eq 0 ]
	exit $?
}

# try CMD...: runs CMD and prints "ok", or the system error it printed (the
# text after the last ": " of its stderr, e.g. "File exists").
try() {
	local err
	if err=$("$@" 2>&1 >/dev/null); then
		echo ok
	else
		err=$(printf '%s' "$err" | tail -n 1)
		echo "${err##*: }"
	fi
}

# append FILE MESSAGE: writes MESSAGE to FILE with bash's printf, as a user
# would (bash writes it a line at a time); prints "ok" or the error.
append() {
	try bash -c 'printf "%s" "$2" > "$1"' _ "$1" "$2"
}

# mount_esfs [OPTIONS...]: mounts STORE on M in the foreground (so that
# the test owns the process), and waits until it serves.
mount_esfs() {
	"$ESFS" -f "$@" "$STORE" "$M" 2>>"$LOG" &
	PID=$!
	local i
	for i in $(seq 1 200); do
		if mountpoint -q "$M" && [ -d "$M/streams" ]; then
			return 0
		fi
		if ! kill -0 "$PID" 2>/dev/null; then
			PID=
			diag "esfs exited at start: $(tail -n 3 "$LOG")"
			return 1
		fi
		sleep 0.05
	done
	diag "esfs did not mount in 10 s"
	return 1
}

# unmount_esfs: unmounts cleanly and waits for the daemon to exit; returns
# the daemon's exit status.
unmount_esfs() {
	local rc=0 i
	# A reader killed a moment ago may still hold a file open until the
	# daemon has answered its interrupted request: busy for a little while.
	for i in $(seq 1 50); do
		fusermount3 -u "$M" 2>/dev/null && break
		sleep 0.1
	done
	mountpoint -q "$M" && { fusermount3 -u "$M"; rc=1; }
	if [ -n "$PID" ]; then
		wait "$PID" || rc=$?
		PID=
	fi
	return $rc
}

# kill_esfs: SIGKILL, as in a crash, then clears the dead mount.
kill_esfs() {
	[ -n "$PID" ] || return 0
	kill -9 "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
	fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	return 0
}

_cleanup() {
	trap - EXIT INT TERM
	stop_watchdog
	if mountpoint -q "$M" 2>/dev/null || [ -n "$PID" ]; then
		fusermount3 -u -z "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
		[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	fi
	# Whatever else the test mounted under $T (a second mountpoint, a
	# lossy disk) goes too, so that no mount outlives it.
	local mnt
	awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r mnt; do
			fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
			echo "# $mnt was still mounted at the end" >&2
		done
	if [ "$_failed" -ne 0 ] && [ -s "$LOG" ]; then
		diag "esfs log:"
		tail -n 20 "$LOG" | sed 's/^/#   /'
	fi
	rm -rf "$T"
	[ -z "$PG" ] || psql -q "$ESFS_TEST_PG" -c "DROP DATABASE $_db WITH (FORCE)" >/dev/null
}
trap _cleanup EXIT
trap 'echo "Bail out! interrupted or over ${TEST_TIMEOUT:-300} s"; exit 1' INT TERM

# A test that runs longer than TEST_TIMEOUT seconds (default 300) is
# stopped, and cleanup still runs: the watchdog kills the daemons of
# $STORE first, so that a call hung on the mount returns. It keeps no hold
# on stdout, so prove does not wait for it. stop_watchdog ends it by
# killing its sleep, and a sleep that was killed does not go on to the
# kill (that race once ended a passing test with SIGTERM). A test that
# moves STORE starts it again.
stop_watchdog() {
	if [ -n "${_watchdog:-}" ]; then
		pkill -P "$_watchdog" 2>/dev/null
		kill "$_watchdog" 2>/dev/null
		_watchdog=
	fi
}
start_watchdog() {
	stop_watchdog
	( sleep "${TEST_TIMEOUT:-300}" && { pkill -9 -f "$STORE"; kill -TERM $$; } ) >/dev/null 2>&1 &
	_watchdog=$!
}
start_watchdog

# run_soak OUT ARGS...: runs tools/esfs-soak ARGS, its output in OUT and
# shown as TAP comments; sets rc to its exit status. In the background, so
# that the watchdog's TERM and a Ctrl-C reach this shell at once: they TERM
# the soak, which cleans up its own mounts and daemons, and bail out.
run_soak() {
	_soak_out=$1
	shift
	"$TOP/tools/esfs-soak" "$@" > "$_soak_out" 2>&1 &
	_soak=$!
	trap 'kill -TERM "$_soak" 2>/dev/null; wait "$_soak"; sed "s/^/# /" "$_soak_out"
		echo "Bail out! interrupted or over ${TEST_TIMEOUT:-300} s"; exit 1' INT TERM
	wait "$_soak"
	rc=$?
	trap 'echo "Bail out! interrupted or over ${TEST_TIMEOUT:-300} s"; exit 1' INT TERM
	sed 's/^/# /' "$_soak_out"
}

# pad N: the 20-digit name of event N
pad() {
	printf '%020d' "$1"
}
