#!/bin/bash
# 90-cli.t — the esfs command: --help and --version; bad arguments, an
# unknown option, a store that is a regular file, a busy mountpoint and a
# stale mount each fail with one clear line and leave nothing mounted;
# without -f it mounts in the background and exits when unmounted;
# `make install` installs the binary and the man page; `mount -t fuse.esfs`
# and an fstab line of type fuse.esfs mount it through mount.fuse3.
#
# mount(8) runs its helpers without PATH, so mount.fuse3's /bin/sh finds
# esfs only in the shell's default PATH (/usr/local/sbin, /usr/local/bin,
# /usr/sbin, …). So that the test can mount the copy that `make install`
# put in $T, it runs in a private mount namespace of its own, where that
# copy's bin directory is bound over /usr/local/sbin (empty on Debian); the
# host sees none of it.
if [ -z "${ESFS_TEST_NS:-}" ] && unshare -m --propagation private true 2>/dev/null; then
	ESFS_TEST_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

# run CMD...: runs CMD (at most 20 s); sets rc, out and err
run() {
	timeout 20 "$@" > "$T/out" 2> "$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
}

# running TEXT: 0 when a process's command line holds TEXT (as text, not
# a pattern: a PostgreSQL store's URI holds a '?')
running() {
	local all
	all=$(pgrep -af -- esfs)	# before grep runs: its own line holds TEXT
	printf '%s\n' "$all" | grep -qF -- "$1"
}

# gone TEXT: 0 when no process's command line holds TEXT within 10 s
gone() {
	local i
	for i in $(seq 1 200); do
		running "$1" || return 0
		sleep 0.05
	done
	return 1
}

# works LABEL: the mounted tree serves and takes an append
works() {
	local s=Cli-$RANDOM$RANDOM
	ok $([ -d "$M/streams" ] && [ -d "$M/all" ] && [ -d "$M/snapshots" ] && [ -d "$M/checkpoints" ]; echo $?) \
		"$1: the tree is there"
	mkdir "$M/streams/$s"
	is "$(append "$M/streams/$s/new" 'Expected-Version: 0
Event-Type: Tried

{"label":"'"$1"'"}')" ok "$1: an append works"
	is "$(cat "$M/streams/$s"/0* | jq -r .data.label)" "$1" "$1: the event reads back"
}

# failed LABEL: the last run failed with a short message and left nothing
# mounted
failed() {
	ok $([ "$rc" -ne 0 ]; echo $?) "$1: exit status not 0 ($rc)"
	ok $([ -n "$err" ]; echo $?) "$1: says why on stderr"
	ok $([ "$(printf '%s\n' "$err" | grep -c .)" -le 3 ]; echo $?) "$1: in one line or a few"
	[ -z "$err" ] || diag "$1: $(printf '%s' "$err" | head -n 3)"
	mountpoint -q "$M"
	ok $((! $?)) "$1: nothing is mounted at \$M"
}

# ---- --help and --version

run "$ESFS" --help
is "$rc" 0 "--help exits 0"
like "$out$err" 'STORE_DIR' "--help prints the usage"
run "$ESFS" --version
is "$rc" 0 "--version exits 0"
like "$out" 'esfs [0-9]' "--version prints the version"

# ---- bad arguments

run "$ESFS"
failed "no arguments"
run "$ESFS" "$STORE"
failed "one argument"
run "$ESFS" -o nosuchoption "$STORE" "$M"
failed "-o nosuchoption"
like "$err" 'nosuchoption' "-o nosuchoption: the message names the option"

echo "not a directory" > "$T/storefile"
run "$ESFS" "$T/storefile" "$M"
failed "a store that is a regular file"
is "$(printf '%s\n' "$err" | grep -c .)" 1 "a store that is a regular file: one line"
like "$err" "$T/storefile" "a store that is a regular file: the line names it"
is "$(cat "$T/storefile")" "not a directory" "a store that is a regular file: the file is left as it was"

# ---- a busy mountpoint

mount_esfs
ok $? "mounted in the foreground"
run "$ESFS" -f "$T/store2" "$M"
ok $([ "$rc" -ne 0 ]; echo $?) "a second esfs on a busy mountpoint fails ($rc)"
like "$err" '[Bb]usy' "a busy mountpoint: the message says busy"
ok $([ "$(printf '%s\n' "$err" | grep -c .)" -le 3 ]; echo $?) "a busy mountpoint: one line or a few"
diag "busy: $(printf '%s' "$err" | head -n 3)"
ok $(kill -0 "$PID" 2>/dev/null; echo $?) "a busy mountpoint: the first daemon still runs"
works "the first mount after a second esfs was refused"

# ---- a stale mount

kill -9 "$PID"
wait "$PID" 2>/dev/null
PID=
run "$ESFS" "$STORE" "$M"
ok $([ "$rc" -ne 0 ]; echo $?) "esfs on a stale mount fails ($rc)"
like "$err" 'fusermount3 -u' "a stale mount: the message says to run fusermount3 -u"
ok $([ "$(printf '%s\n' "$err" | grep -c .)" -le 3 ]; echo $?) "a stale mount: one line or a few"
diag "stale: $(printf '%s' "$err" | head -n 3)"
fusermount3 -u "$M"
ok $? "fusermount3 -u clears the stale mount"
mountpoint -q "$M"
ok $((! $?)) "nothing is mounted after clearing it"

# ---- background mode

run "$ESFS" "$STORE" "$M"
is "$rc" 0 "without -f esfs returns 0 after mounting"
mountpoint -q "$M"
ok $? "without -f: mounted when the command returns"
works "background mode"
ok $(running "$ESFS $STORE $M"; echo $?) "without -f: the daemon runs in the background"
fusermount3 -u "$M"
ok $? "fusermount3 -u unmounts it"
gone "$ESFS $STORE $M"
ok $? "the background daemon exits after fusermount3 -u"
mountpoint -q "$M"
ok $((! $?)) "nothing is mounted"

# ---- background mode with no syslog: the log lines go to a file
# Where there is no syslog socket (no /dev/log, as in many containers),
# a background esfs writes its log lines to
# $XDG_STATE_HOME/esfs/esfs.log (~/.local/state/esfs/esfs.log), and says
# so on its stderr before it detaches. In this test's own mount namespace
# /dev/log is hidden when the machine has one.
if [ -S /dev/log ]; then
	mount --bind /dev/null /dev/log 2>/dev/null || diag "cannot hide /dev/log"
fi
if [ -S /dev/log ]; then
	ok 0 "# SKIP /dev/log cannot be hidden here"
	ok 0 "# SKIP"
	ok 0 "# SKIP"
else
	mkdir -p "$T/home"
	run env -u XDG_STATE_HOME HOME="$T/home" "$ESFS" "$STORE" "$M"
	is "$err" "esfs: no syslog here (no /dev/log); log lines go to $T/home/.local/state/esfs/esfs.log" \
		"no syslog: esfs says where its log lines go"
	mkdir -p "$M/streams/Log-1"
	printf 'Expected-Version: 5\nEvent-Type: T\n\n{}\n' > "$M/streams/Log-1/new" 2>/dev/null
	fusermount3 -u "$M"
	gone "$ESFS $STORE $M"
	like "$(cat "$T/home/.local/state/esfs/esfs.log" 2>&1)" \
		'^[0-9-]+T[0-9:]+Z esfs\[[0-9]+\]: serving .*
.* esfs\[[0-9]+\]: append to stream Log-1: wrong expected version: stream Log-1, expected 5, actual 0 \(EEXIST\)' \
		"the file has the start and the failed append, one line each"
	is "$(stat -c %a "$T/home/.local/state/esfs")" 700 "its directory is made with mode 0700"
fi

# ---- make install, mount -t fuse.esfs, fstab

make -C "$TOP" install DESTDIR="$T/inst" PREFIX=/usr > "$T/make.out" 2>&1
mrc=$?
if [ "$mrc" -ne 0 ] && [ ! -e "$TOP/man/esfs.1" ]; then
	ok 0 "make install # SKIP man/esfs.1 is not written yet"
	ok 0 "make install installs usr/share/man/man1/esfs.1 # SKIP man/esfs.1 is not written yet"
else
	is "$mrc" 0 "make install DESTDIR=… PREFIX=/usr exits 0"
	[ "$mrc" -eq 0 ] || diag "$(tail -n 3 "$T/make.out")"
	ok $([ -f "$T/inst/usr/share/man/man1/esfs.1" ]; echo $?) "make install installs usr/share/man/man1/esfs.1"
fi
ok $([ -x "$T/inst/usr/bin/esfs" ]; echo $?) "make install installs usr/bin/esfs"
is "$("$T/inst/usr/bin/esfs" --version 2>/dev/null | head -n 1)" "$("$ESFS" --version | head -n 1)" \
	"the installed esfs is this esfs"

export PATH="$T/inst/usr/bin:$PATH"
bound=
if [ -n "${ESFS_TEST_NS:-}" ] && [ -z "$(ls -A /usr/local/sbin 2>/dev/null)" ] &&
   mount --bind "$T/inst/usr/bin" /usr/local/sbin; then
	bound=/usr/local/sbin
	diag "in a private mount namespace, $T/inst/usr/bin is bound over /usr/local/sbin"
else
	diag "no private mount namespace: mount.fuse3 finds esfs only on sh's default PATH"
fi
run mount -t fuse.esfs "$STORE" "$M"
is "$rc" 0 "mount -t fuse.esfs STORE M exits 0"
[ "$rc" -eq 0 ] || diag "mount: $err"
mountpoint -q "$M"
ok $? "mount -t fuse.esfs: mounted"
is "$(findmnt -n -o FSTYPE "$M")" fuse.esfs "mount -t fuse.esfs: the type is fuse.esfs"
works "mount -t fuse.esfs"
ok $(running "esfs $STORE $M"; echo $?) "mount -t fuse.esfs: the daemon runs"
umount "$M"
ok $? "umount unmounts it"
gone "esfs $STORE $M"
ok $? "the daemon exits after umount"

echo "$STORE $M fuse.esfs defaults 0 0" > "$T/fstab"
run mount --fstab "$T/fstab" "$M"
is "$rc" 0 "mount --fstab with a fuse.esfs line exits 0"
[ "$rc" -eq 0 ] || diag "mount: $err"
mountpoint -q "$M"
ok $? "fstab: mounted"
works "fstab"
ok $(running "esfs $STORE $M"; echo $?) "fstab: the daemon runs"
is "$(ls "$M/all" | wc -l)" 4 "fstab: the events of every earlier mount are there"
umount "$M"
ok $? "umount unmounts the fstab mount"
gone "esfs $STORE $M"
ok $? "the daemon exits after umount"
mountpoint -q "$M"
ok $((! $?)) "nothing is mounted at the end"
[ -z "$bound" ] || umount "$bound"

done_testing
