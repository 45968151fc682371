#!/bin/bash
# 98-dist.t — dist/esfs@.service and dist/fstab.example.
#
# systemd does not run here, so the unit is checked in two ways:
# systemd-analyze verify reads it as systemd would (in a private mount
# namespace where esfs is found on systemd's search path), and its Exec
# lines are run by hand, as systemd would run them for the instance
# esfs@test.service, with the unit's environment and an environment file
# that points it at this test's directories: ExecStartPre makes the
# directories, ExecStart serves, ExecStartPost returns once the mount serves,
# SIGTERM unmounts cleanly, and after a SIGKILL ExecStopPost clears the dead
# mount so that the restart mounts again. The fstab example's line, moved to
# this test's directories, is mounted with mount --fstab.
#
# The Exec lines are expanded the way systemd.service(5) says, for the
# syntax the unit uses: specifiers %i and %%, words split on blanks with
# '…' and "…" quoting, a word "$VAR" split into words, "${VAR}" replaced in
# place, "$$" a literal "$", a leading "-" ignoring failure.
. "$(dirname "$0")/lib.sh"

UNIT=$TOP/dist/esfs@.service
FSTAB=$TOP/dist/fstab.example
INSTANCE=test
# systemd's search path for a command given without a directory, with this
# build's esfs first (standing for the installed one).
mkdir -p "$T/bin"
ln -s "$ESFS" "$T/bin/esfs"
SDPATH=$T/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# A copy of esfs to bind over /usr/local/sbin in a private mount namespace.
mkdir -p "$T/units"
cp "$ESFS" "$T/units/esfs"
# The unit's store and mountpoint are lib.sh's, so that its cleanup (and its
# watchdog) unmount and kill whatever is left; the mountpoint does not exist
# yet (ExecStartPre makes it).
S=$STORE
MP=$M
rmdir "$M"

ok $([ -f "$UNIT" ]; echo $?) "dist/esfs@.service exists"
ok $([ -f "$FSTAB" ]; echo $?) "dist/fstab.example exists"

# ---- systemd-analyze verify

if ! command -v systemd-analyze > /dev/null; then
	ok 0 "systemd-analyze verify # SKIP no systemd-analyze"
elif [ -n "$(ls -A /usr/local/sbin 2>/dev/null)" ] || ! unshare -m --propagation private true 2>/dev/null; then
	ok 0 "systemd-analyze verify # SKIP no private mount namespace with an empty /usr/local/sbin"
else
	mkdir -p "$T/man/man1"
	cp "$UNIT" "$T/units/"
	cp "$TOP/man/esfs.1" "$T/man/man1/"
	# esfs on systemd's search path, in a namespace of its own: bound over
	# /usr/local/sbin (empty on Debian); the host sees none of it.
	# Documentation=man:esfs(1) is checked with man(1), when there is one.
	man=--man=yes
	command -v man > /dev/null || man=--man=no
	out=$(MANPATH=$T/man unshare -m --propagation private sh -c \
		'mount --bind "$1" /usr/local/sbin && systemd-analyze verify "$2" "$1/esfs@test.service"' \
		sh "$T/units" "$man" 2>&1)
	rc=$?
	is "$rc" 0 "systemd-analyze verify esfs@test.service exits 0"
	is "$out" "" "... and finds nothing to say"
fi

# ---- the unit's lines, as systemd expands them

# unit_values KEY: the values of KEY= in [Service], one a line, in order
unit_values() {
	awk -v key="$1" '
		/^\[/ { section = $0; next }
		section == "[Service]" && index($0, key "=") == 1 { print substr($0, length(key) + 2) }
	' "$UNIT"
}

# specifiers TEXT: %i and %I are the instance, %% is %
specifiers() {
	local s=$1 out= c
	while [ -n "$s" ]; do
		c=${s:0:1}
		if [ "$c" = % ]; then
			case ${s:1:1} in
			i|I) out+=$INSTANCE ;;
			%) out+=% ;;
			*) echo "specifier %${s:1:1} not known to this test" >&2; return 1 ;;
			esac
			s=${s:2}
		else
			out+=$c
			s=${s:1}
		fi
	done
	printf '%s' "$out"
}

declare -A ENV	# the unit's environment

# load_environment: Environment= lines, then EnvironmentFile= (a leading
# "-": it may be missing); every path under /etc is looked for under $T/etc.
load_environment() {
	local v k f line
	ENV=()
	while IFS= read -r v; do
		v=$(specifiers "$v")
		ENV[${v%%=*}]=${v#*=}
	done < <(unit_values Environment)
	while IFS= read -r f; do
		f=$(specifiers "${f#-}")
		f=$T$f
		[ -f "$f" ] || continue
		while IFS= read -r line; do
			case $line in ''|'#'*|';'*) continue ;; esac
			k=${line%%=*} v=${line#*=}
			case $v in \"*\"|\'*\') v=${v:1:${#v}-2} ;; esac
			ENV[$k]=$v
		done < "$f"
	done < <(unit_values EnvironmentFile)
}

# expand LINE: the words of an Exec line, one a line in ARGV; sets IGNORE
# when the line starts with "-"
expand() {
	local line=$1 words=() w= c q= inword=0 name val dollar='$'
	IGNORE=0
	case $line in -*) IGNORE=1; line=${line#-} ;; esac
	line=$(specifiers "$line") || return 1
	while [ -n "$line" ]; do		# split into words, unquoting
		c=${line:0:1}
		line=${line:1}
		if [ -n "$q" ]; then
			if [ "$c" = "$q" ]; then q=; else w+=$c; fi
		elif [ "$c" = "'" ] || [ "$c" = '"' ]; then
			q=$c inword=1
		elif [ "$c" = ' ' ] || [ "$c" = $'\t' ]; then
			[ "$inword" -eq 1 ] && words+=("$w")
			w= inword=0
		else
			w+=$c inword=1
		fi
	done
	[ "$inword" -eq 1 ] && words+=("$w")
	ARGV=()
	for w in "${words[@]}"; do
		if [[ $w =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then	# $VAR: split
			read -r -a val <<< "${ENV[${BASH_REMATCH[1]}]:-}"
			ARGV+=("${val[@]}")
			continue
		fi
		w=${w//'$$'/$'\001'}
		while [[ $w =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do	# ${VAR}: in place
			name=${BASH_REMATCH[1]}
			w=${w/"\${$name}"/"${ENV[$name]:-}"}
		done
		ARGV+=("${w//$'\001'/"$dollar"}")
	done
}

# run_exec LINE [VAR=VALUE...]: runs one Exec line as systemd would (its
# environment only, systemd's search path), waits, sets RC to its status, and
# returns it (0 if the line starts with "-")
run_exec() {
	local line=$1 k envs=()
	shift
	expand "$line" || return 1
	for k in "${!ENV[@]}"; do envs+=("$k=${ENV[$k]}"); done
	env -i PATH="$SDPATH" "${envs[@]}" "$@" "${ARGV[@]}" >> "$T/unit.out" 2>&1
	RC=$?
	[ "$IGNORE" -eq 1 ] && return 0
	return $RC
}

# start: ExecStartPre lines, ExecStart in the background (MAIN), then
# ExecStartPost lines with $MAINPID; returns the first failure
MAIN=
start() {
	local l k envs=()
	while IFS= read -r l; do
		run_exec "$l" || { diag "ExecStartPre failed: $l"; return 1; }
	done < <(unit_values ExecStartPre)
	expand "$(unit_values ExecStart)"
	for k in "${!ENV[@]}"; do envs+=("$k=${ENV[$k]}"); done
	env -i PATH="$SDPATH" "${envs[@]}" "${ARGV[@]}" >> "$T/esfs-unit.log" 2>&1 &
	MAIN=$! PID=$!		# PID: lib.sh's cleanup kills it
	while IFS= read -r l; do
		run_exec "$l" MAINPID="$MAIN" || { diag "ExecStartPost failed: $l"; return 1; }
	done < <(unit_values ExecStartPost)
}
# stop_post: the ExecStopPost lines; returns the status of the last one,
# even if it starts with "-"
stop_post() {
	local l
	while IFS= read -r l; do
		run_exec "$l" || return 1
	done < <(unit_values ExecStopPost)
	return $RC
}

# ---- what the lines say

load_environment
expand "$(unit_values ExecStart)"
is "${ARGV[*]}" "esfs -f /var/lib/esfs/test /srv/esfs/test" \
	"ExecStart of esfs@test: esfs -f /var/lib/esfs/test /srv/esfs/test"
is "$(unit_values Restart)" on-failure "Restart=on-failure"
is "$(unit_values Type)" exec "Type=exec"
is "$(unit_values EnvironmentFile)" "-/etc/esfs/%i.conf" "EnvironmentFile=-/etc/esfs/%i.conf"

# /etc/esfs/test.conf (here $T/etc/esfs/test.conf) points it at this test's
# directories, which do not exist yet, and sets an option.
mkdir -p "$T/etc/esfs"
cat > "$T/etc/esfs/test.conf" <<EOF
# the store and mountpoint of esfs@test
ESFS_STORE=$S
ESFS_MOUNTPOINT="$MP"
ESFS_OPTIONS=-o max_event=4096 -s
EOF
load_environment
expand "$(unit_values ExecStart)"
is "${ARGV[*]}" "esfs -f -o max_event=4096 -s $S $MP" "with /etc/esfs/test.conf: its store, mountpoint and options"

# ---- start, serve, SIGTERM

start
ok $? "ExecStartPre, ExecStart and ExecStartPost succeed"
ok $([ -d "$S" ] && [ "$(stat -c %a "$S")" = 700 ]; echo $?) "ExecStartPre made the store directory, mode 0700"
ok $([ -d "$MP" ]; echo $?) "... and the mountpoint"
mountpoint -q "$MP"
ok $? "when ExecStartPost returns, the mountpoint is mounted"
ok $([ -d "$MP/streams" ]; echo $?) "... and serves"
is "$(findmnt -n -o FSTYPE "$MP")" fuse.esfs "... type fuse.esfs"
mkdir "$MP/streams/Unit-1"
is "$(append "$MP/streams/Unit-1/new" $'Expected-Version: 0\nEvent-Type: Started\n\n{"n":1}')" ok "an append works"
big=$(printf '%05000d' 0)
is "$(append "$MP/streams/Unit-1/new" $'Expected-Version: any\nEvent-Type: Big\n\n{"x":"'"$big"'"}')" \
	"File too large" "ESFS_OPTIONS reached esfs: -o max_event=4096 refuses a 5 kB event"

# sigterm: stops MAIN as systemctl stop does; it must exit 0 and unmount
sigterm() {
	kill -TERM "$MAIN"
	wait "$MAIN"
	is "$?" 0 "SIGTERM (systemctl stop): esfs exits 0"
	MAIN= PID=
	mountpoint -q "$MP"
	ok $((! $?)) "... and nothing is mounted"
}
sigterm
stop_post
ok $? "ExecStopPost succeeds after a clean stop"

# ---- a crash and Restart=on-failure

start
ok $? "started again"
is "$(cat "$MP/streams/Unit-1/"0* | jq -r .data.n)" 1 "the event of the first run is there"
exec 3>&2 2>/dev/null		# not bash's "Killed" notice
kill -9 "$MAIN"
wait "$MAIN"
exec 2>&3 3>&-
MAIN= PID=
ok $([ -n "$(findmnt -n -M "$MP")" ] && ! ls "$MP" > /dev/null 2>&1; echo $?) \
	"after SIGKILL, a dead mount is left at the mountpoint"
stop_post
ok $? "ExecStopPost succeeds"
ok $([ -z "$(findmnt -n -M "$MP")" ]; echo $?) "... and clears the dead mount"
start
ok $? "so the restart mounts again"
is "$(cat "$MP/streams/Unit-1/"0* | jq -r .data.n)" 1 "... with the event"
is "$(append "$MP/streams/Unit-1/new" $'Expected-Version: 1\nEvent-Type: Restarted\n\n{"n":2}')" ok "... and takes appends"

# ---- a failed start, and a mount that is not the unit's

# The mountpoint is busy (the unit's own esfs still serves there): a second
# ExecStart fails at once, and ExecStopPost leaves the live mount alone.
# (ExecStartPost sees the live mount and returns; systemd fails the start
# because the main process exited.)
FIRST=$MAIN
start
wait "$MAIN" 2>/dev/null
ok $([ $? -ne 0 ]; echo $?) "a start on a busy mountpoint: esfs exits non-zero"
like "$(cat "$T/esfs-unit.log")" '[Bb]usy' "... saying the mountpoint is busy"
stop_post
ok $? "ExecStopPost succeeds"
is "$(cat "$MP/streams/Unit-1/"0* | jq -r .data.n | tr '\n' ' ')" "1 2 " \
	"... and leaves the live mount alone"
MAIN=$FIRST PID=$FIRST
sigterm

# ---- the fstab example

line=$(grep -v '^#' "$FSTAB" | grep fuse.esfs | head -n 1)
read -r what where type opts dump pass <<< "$line"
is "$type" fuse.esfs "fstab.example: a fuse.esfs line"
is "$what $where $dump $pass" "/var/lib/esfs /srv/events 0 0" "... of /var/lib/esfs on /srv/events"
# mount.fuse3 runs esfs with the default PATH (see 90-cli.t): in a private
# mount namespace, this build's bin directory is bound over /usr/local/sbin.
if [ -z "$(ls -A /usr/local/sbin 2>/dev/null)" ] && unshare -m --propagation private true 2>/dev/null; then
	echo "$S $MP $type $opts $dump $pass" > "$T/fstab"
	out=$(unshare -m --propagation private sh -c '
		mount --bind "$1" /usr/local/sbin || exit 9
		mount --fstab "$2" "$3" || exit 1
		mountpoint -q "$3" || exit 2
		findmnt -n -o OPTIONS "$3"
		cat "$3"/streams/Unit-1/0* | wc -l
		umount "$3" || exit 3
		mountpoint -q "$3" && exit 4
		exit 0' sh "$T/units" "$T/fstab" "$MP" 2>&1)
	rc=$?
	for i in $(seq 1 200); do	# the daemon exits after umount
		pgrep -f -- "esfs $S $MP" > /dev/null || break
		sleep 0.05
	done
	is "$rc" 0 "mount --fstab with the example's options ($opts) mounts, and umount unmounts"
	like "$out" 'allow_other' "... with allow_other"
	is "$(printf '%s\n' "$out" | tail -n 1)" 2 "... on the store the unit served"
else
	ok 0 "mount --fstab # SKIP no private mount namespace with an empty /usr/local/sbin"
	ok 0 "... with allow_other # SKIP"
	ok 0 "... on the store the unit served # SKIP"
fi

done_testing
