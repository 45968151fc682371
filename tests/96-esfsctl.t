#!/bin/bash
# 96-esfsctl.t — esfsctl, the administration tool: `restore` turns a copy of
# a mount (cp -a or rsync -aH) back into a store whose mount diff -r finds
# equal to the copy, with the same times; it refuses broken copies (a gap, a
# changed byte, a missing stream file, a wrong global_position, a busy
# STORE_DIR) with a message naming the file, and leaves nothing behind.
# `verify` passes on good stores; `backup` copies a live store while appends
# run, consistently; `stats` counts right; the progress line shows only on a
# terminal.
. "$(dirname "$0")/lib.sh"
ESFSCTL=${ESFSCTL:-$TOP/bin/esfsctl}

# msg EXPECTED TYPE DATA: a single-event append message
msg() {
	printf 'Expected-Version: %s\nEvent-Type: %s\n\n%s' "$1" "$2" "$3"
}

# ctl ARGS...: runs esfsctl with stdout to $T/out and stderr to $T/err;
# prints its exit status.
ctl() {
	"$ESFSCTL" "$@" > "$T/out" 2> "$T/err"
	echo $?
}

# mount_store DIR: mounts store DIR on M (after unmounting what is there).
mount_store() {
	mountpoint -q "$M" && unmount_esfs
	STORE=$1
	mount_esfs
}

# times DIR: mtime, mode and size of every file below the top directories
# of DIR (the mtime to the nanosecond), and mtime (to the second: rsync
# keeps no more of some) and mode of every directory there.
times() {
	(cd "$1" && find . -mindepth 2 \( -type d -printf '%p %Ts %m\n' \) -o \
		-printf '%p %T@ %m %s\n' | sort)
}

# ---- A store with a bit of everything, through a real mount.

mount_esfs
ok $? "mounted"

ODD="odd name's (1) & ü"
for s in Order-1 Order-2 Customer-7 Empty-1 "Bücher-ñ" plain "$ODD"; do
	mkdir "$M/streams/$s"
done
acks=0
for i in 1 2 3; do
	[ "$(append "$M/streams/Order-1/new" "$(msg $((i - 1)) OrderLine "{\"line\":$i,\"price\":1.0}")")" = ok ] &&
		acks=$((acks + 1))
done
sleep 1.1	# so that events do not all share one second
for i in 1 2; do
	[ "$(append "$M/streams/Customer-7/new" "$(msg any CustomerSeen "{\"seen\":$i}")")" = ok ] &&
		acks=$((acks + 1))
done
[ "$(append "$M/streams/Order-2/new" 'Expected-Version: 0
Correlation-Id: req-7

[{"event_type":"OrderPlaced","data":{"n":1e5}},{"event_type":"OrderPaid","data":{"n":2},"metadata":{"by":"card"}}]')" = ok ] &&
	acks=$((acks + 2))
[ "$(append "$M/streams/Bücher-ñ/new" "$(msg 0 Geändert '{"titel":"Straße \u00e9 ✓"}')")" = ok ] && acks=$((acks + 1))
[ "$(append "$M/streams/$ODD/new" "$(msg 0 "Odd type (1)" '{"q":"\"quoted\" \\\\ back"}')")" = ok ] && acks=$((acks + 1))
[ "$(append "$M/streams/plain/new" "$(msg 0 Plain '{}')")" = ok ] && acks=$((acks + 1))
sleep 1.1
[ "$(append "$M/streams/Order-1/new" "$(msg 3 OrderShipped '{"carrier":"DHL"}')")" = ok ] && acks=$((acks + 1))
nevents=11
is "$acks" "$nevents" "$nevents events appended"
is "$(append "$M/snapshots/Order-1" 'Version: 3

{"total":3}')" ok "a snapshot is written"
is "$(append "$M/snapshots/Bücher-ñ" 'Version: 1

{"ü":1}')" ok "a snapshot of the unicode stream is written"
is "$(append "$M/checkpoints/projector" 4)" ok "a checkpoint is written"
is "$(append "$M/checkpoints/café" 0)" ok "a checkpoint at 0 with a unicode name is written"

cp -a "$M/." "$T/copy"
is "$?" 0 "cp -a of the mount"
rsync -aH "$M/" "$T/rcopy/"
is "$?" 0 "rsync -aH of the mount"
cat "$M"/all/* | jq -r '"\(.global_position) \(.event_id)"' > "$T/ids"
unmount_esfs
ok $? "unmounted"

# ---- restore, then mount: the copy again

# check_restored LABEL COPY STORE: STORE, mounted, is COPY
check_restored() {
	local label=$1 copy=$2 store=$3
	mount_store "$store"
	ok $? "$label: the restored store mounts"
	is "$(diff -r "$M" "$copy" 2>&1 | head -n 5)" "" "$label: diff -r between its mount and the copy finds nothing"
	times "$M" > "$T/times.mount"
	times "$copy" > "$T/times.copy"
	is "$(diff "$T/times.mount" "$T/times.copy" | head -n 6)" "" \
		"$label: every file and directory below the top has the copy's mtime, size and mode"
	is "$(cat "$M"/all/* | jq -r '"\(.global_position) \(.event_id)"')" "$(cat "$T/ids")" \
		"$label: the same event ids at the same positions"
	is "$(stat -c %Y "$M/checkpoints/projector")" "$(stat -c %Y "$copy/checkpoints/projector")" \
		"$label: the checkpoint has its time"
	unmount_esfs
}

is "$(ctl restore "$T/copy" "$T/store-r1")" 0 "restore of the cp -a copy exits 0"
like "$(cat "$T/out")" "restored $nevents events, 7 streams \(1 empty\), 2 snapshots, 2 checkpoints" \
	"it says what it restored in one line"
is "$(wc -l < "$T/out")" 1 "one summary line"
is "$(cat "$T/err")" "" "nothing on stderr when it is not a terminal"
ok $([ ! -e "$T/store-r1/esfs.lock" ]; echo $?) "no lock file is left in the new store"
check_restored "cp -a" "$T/copy" "$T/store-r1"

is "$(ctl verify "$T/store-r1")" 0 "verify of the restored store exits 0"
like "$(cat "$T/out")" "no problems" "verify says there are no problems"

mkdir "$T/store-r2"
is "$(ctl restore "$T/rcopy" "$T/store-r2")" 0 "restore of the rsync -aH copy into an empty directory exits 0"
check_restored "rsync -aH" "$T/rcopy" "$T/store-r2"

# A copy that lost its hard links (cp -r) holds the same bytes: accepted.
cp -r --preserve=timestamps "$T/copy" "$T/flat"
is "$(ctl restore "$T/flat" "$T/store-r3")" 0 "a copy without hard links is restored too"
is "$(stat -c %h "$T/flat/all/$(pad 1)")" 1 "(its event files had one link each)"

# categories/ and types/ hold links of all/ entries, or copies of them:
# checked, not imported.
cp -a "$T/copy" "$T/views"
mkdir -p "$T/views/categories/Order" "$T/views/types/OrderLine"
rm -f "$T/views/categories/Order/$(pad 1)" "$T/views/types/OrderLine/$(pad 1)"
ln "$T/views/all/$(pad 1)" "$T/views/categories/Order/$(pad 1)"
cp -p "$T/views/all/$(pad 1)" "$T/views/types/OrderLine/$(pad 1)"
is "$(ctl restore "$T/views" "$T/store-v")" 0 "categories/ and types/ holding events of all/ are accepted"

# ---- refusals: exit 1, the file named, no store left

# refused LABEL COPY PATTERN: restore of COPY exits 1, says PATTERN, makes nothing
refused() {
	local label=$1 copy=$2 pattern=$3
	is "$(ctl restore "$copy" "$T/store-bad")" 1 "$label: refused with exit 1"
	like "$(cat "$T/err")" "$pattern" "$label: the message names the file"
	is "$(wc -l < "$T/err")" 1 "$label: in one line"
	ok $([ ! -e "$T/store-bad" ]; echo $?) "$label: no store is left"
}

# bad NAME: a fresh copy of the copy to break, hard links kept
bad() {
	rm -rf "$T/bad-$1"
	cp -a "$T/copy" "$T/bad-$1"
	echo "$T/bad-$1"
}

b=$(bad gap)
rm "$b/all/$(pad 5)"
refused "a gap in all/" "$b" "all/$(pad 5): missing"

b=$(bad name)
touch "$b/all/17"
refused "a file name that is not 20 digits" "$b" "all/17: not an event file"

# inplace FILE PERL-EXPR: edits FILE in place, through its inode, so that
# all its hard links (all/N, streams/S/V, categories/, types/) change too.
inplace() {
	chmod u+w "$1"
	perl -pe "$2" "$1" > "$T/edited" && cat "$T/edited" > "$1"
}

# A changed byte in all/N only (the link to streams/S/V broken): the other
# names of the event (streams/, and categories/ if the mount has it) differ.
b=$(bad byte)
f=$b/all/$(pad 2)
sed 's/"line":2/"line":7/' "$f" > "$T/changed" && rm -f "$f" && mv "$T/changed" "$f"
refused "a byte changed in all/N" "$b" "(streams/Order-1|categories/Order)/$(pad 2): differs from all/$(pad 2)"

# A changed byte in the one file of all names (made upper case: not as
# esfs writes it): the store refuses it, and the message names the file.
b=$(bad upper)
f=$b/all/$(pad 3)
id=$(jq -r .event_id "$f")
inplace "$f" "s/$id/\U$id/"
refused "an event id in upper case" "$b" "all/$(pad 3): refused by the store: .*not exactly as esfs writes it"

b=$(bad invalid)
f=$b/all/$(pad 4)
chmod u+w "$f"
printf '[' | dd of="$f" bs=1 seek=0 conv=notrunc status=none
refused "an event that is not JSON" "$b" "all/$(pad 4): not JSON"

b=$(bad lines)
f=$b/all/$(pad 4)
chmod u+w "$f"
echo '{}' >> "$f"
refused "an event file of two lines" "$b" "all/$(pad 4): holds more than one line"

b=$(bad missing)
rm "$b/streams/Customer-7/$(pad 2)"
refused "a stream file missing" "$b" "streams/Customer-7/$(pad 2): missing"

b=$(bad extra)
ln "$b/streams/Customer-7/$(pad 2)" "$b/streams/Customer-7/$(pad 3)"
refused "a stream file that no all/ entry is" "$b" "streams/Customer-7/$(pad 3): no event in all/"

b=$(bad vgap)
rm "$b/streams/Order-1/$(pad 2)"
refused "a gap in a stream's versions" "$b" "streams/Order-1/$(pad 2): missing"

b=$(bad position)
inplace "$b/all/$(pad 6)" 's/"global_position":6,/"global_position":7,/'
refused "a global_position that is not the file's" "$b" "all/$(pad 6): its global_position is 7"

b=$(bad where)
mv "$b/streams/Customer-7" "$b/streams/Customer-8"
refused "an event in another stream's directory" "$b" "all/$(pad 4): its stream Customer-7 is not in streams/"

b=$(bad checkpoint)
echo 99 > "$b/checkpoints/projector"
refused "a checkpoint beyond the last position" "$b" "checkpoints/projector: position 99 is beyond"

b=$(bad snapshot)
rm -r "$b/streams/Order-1" && rm "$b"/all/*	# leaves the snapshot alone
refused "a snapshot of a stream that is not there" "$b" "snapshots/Order-1: a snapshot of a stream not in streams/"

b=$(bad view)
mkdir -p "$b/types/OrderLine"
rm -f "$b/types/OrderLine/$(pad 1)"
printf 'not the event\n' > "$b/types/OrderLine/$(pad 1)"
refused "a types/ entry that is not the event of all/" "$b" "types/OrderLine/$(pad 1): differs from all/$(pad 1)"

b=$(bad stray)
touch "$b/notes.txt"
refused "a stray file at the top" "$b" "notes.txt: not part of a copy"

mkdir "$T/busy"
touch "$T/busy/keep"
is "$(ctl restore "$T/copy" "$T/busy")" 1 "a non-empty STORE_DIR is refused with exit 1"
like "$(cat "$T/err")" "$T/busy: not empty" "the message names it"
ok $([ -f "$T/busy/keep" ] && [ "$(ls "$T/busy")" = keep ]; echo $?) "and nothing in it is touched"

mkdir "$T/empty"
is "$(ctl restore "$(bad gap2)" "$T/empty")" 0 "(an intact copy restores into an empty directory)"
rm -rf "$T/empty" && mkdir "$T/empty"
b=$(bad gap3)
rm "$b/all/$(pad 11)"
is "$(ctl restore "$b" "$T/empty")" 1 "a refused copy into an empty directory exits 1"
ok $([ -d "$T/empty" ] && [ -z "$(ls -A "$T/empty")" ]; echo $?) "and leaves the directory there and empty"

is "$(ctl restore "$T/copy")" 2 "restore with one argument is a usage error (2)"
is "$(ctl restore "$T/nowhere" "$T/store-x")" 1 "restore of a missing copy exits 1"
ok $([ ! -e "$T/store-x" ]; echo $?) "and makes nothing"

# ---- the command line

is "$(ctl --version)" 0 "--version exits 0"
like "$(cat "$T/out")" "^esfsctl [0-9]" "and prints the version"
is "$(ctl --help)" 0 "--help exits 0"
like "$(tr '\n' ' ' < "$T/out")" "restore.*verify.*backup.*stats" "and lists the subcommands"
is "$(ctl help)" 0 "help exits 0"
is "$(ctl frobnicate)" 2 "an unknown subcommand exits 2"
is "$(cat "$T/err")" "esfsctl: 'frobnicate' is not a command; see esfsctl --help" "with one clear line"
is "$(ctl)" 2 "no subcommand exits 2"
is "$(ctl verify "$T/nowhere")" 2 "verify of a missing store exits 2"
is "$(ctl stats)" 2 "stats without a store is a usage error"

# ---- stats

is "$(ctl stats "$T/store-r1")" 0 "stats exits 0"
st=$(cat "$T/out")
stat_of() { printf '%s\n' "$st" | awk -v k="$1" '$1 == k { print $2 }'; }
is "$(stat_of events)" "$(ls "$T/copy/all" | wc -l)" "stats: events is the number of files in all/"
is "$(stat_of head)" "$nevents" "stats: head is the last position"
is "$(stat_of streams)" "$(ls "$T/copy/streams" | wc -l)" "stats: streams"
is "$(stat_of snapshots)" 2 "stats: snapshots"
is "$(stat_of checkpoints)" 2 "stats: checkpoints"
is "$(stat_of categories)" 3 "stats: categories (Order, Customer, Bücher; plain and the odd name have no '-')"
is "$(stat_of types)" 8 "stats: types"
is "$(stat_of file_bytes)" "$(($(stat -c %s "$T/store-r1/data.mdb") + $(stat -c %s "$T/store-r1/log")))" \
	"stats: file_bytes is the size of data.mdb and log"
envelopes=$(cat "$T/copy/all"/* | wc -c)
ok $([ "$(stat_of log_bytes)" -gt "$envelopes" ] && [ "$(stat_of log_file_bytes)" -ge "$(stat_of log_bytes)" ]; echo $?) \
	"stats: log_bytes holds the $envelopes bytes of the envelopes, within log_file_bytes"
ok $([ "$(stat_of used_bytes)" -gt 0 ] && [ "$(stat_of map_bytes)" -ge "$(stat_of used_bytes)" ]; echo $?) \
	"stats: used_bytes and map_bytes"
is "$(printf '%s\n' "$st" | awk 'NF != 2' | wc -l)" 0 "stats: every line is a key and a value"

# ---- backup of a live store while appends run

mount_store "$T/store"
mkdir "$M/streams/Live-1"
(
	for i in $(seq 1 150); do
		msg any Tick "{\"i\":$i}" > "$M/streams/Live-1/new" || exit 1
	done
) &
writer=$!
while [ "$(ls "$M/streams/Live-1" | wc -l)" -lt 20 ] && kill -0 "$writer" 2>/dev/null; do
	sleep 0.05
done
is "$(ctl backup "$T/store" "$T/bk")" 0 "backup of the store while the daemon appends exits 0"
like "$(cat "$T/out")" "backup of" "it says what it copied"
is "$(ctl stats "$T/store")" 0 "stats runs beside the daemon too"
wait "$writer"
is "$?" 0 "the appends went on"
cat "$M/feed/0" > "$T/live.log"
is "$(wc -l < "$T/live.log")" $((nevents + 150)) "all the appends are in the store"
is "$(ctl verify "$T/bk")" 0 "verify of the backup exits 0"
is "$(ctl verify "$T/store")" 0 "verify of the live store, beside its daemon, exits 0"
bk_head=$("$ESFSCTL" stats "$T/bk" | awk '$1 == "head" { print $2 }')
bk_events=$("$ESFSCTL" stats "$T/bk" | awk '$1 == "events" { print $2 }')
is "$bk_events" "$bk_head" "the backup's events are 1 … its head"
ok $([ "$bk_head" -gt $((nevents + 10)) ] && [ "$bk_head" -le $((nevents + 150)) ]; echo $?) \
	"the backup caught the store in the middle of the appends (head $bk_head)"
mount_store "$T/bk"
ok $? "the backup mounts"
is "$(cat "$M/feed/0")" "$(head -n "$bk_head" "$T/live.log")" "its log is a prefix of the live store's, byte for byte"
is "$(cat "$M/snapshots/Order-1" "$M/checkpoints/projector" | wc -l)" 2 "it has the snapshot and the checkpoint"
unmount_esfs
is "$(ctl backup "$T/store" "$T/bk")" 1 "backup into a non-empty directory exits 1"
like "$(cat "$T/err")" "$T/bk: not empty" "and says so"

# ---- the progress line: only on a terminal

"$ESFSCTL" restore "$T/copy" "$T/store-p1" 2> "$T/err" > /dev/null
is "$(wc -c < "$T/err")" 0 "no progress line with stderr to a file"
script -qec "'$ESFSCTL' restore '$T/copy' '$T/store-p2' && '$ESFSCTL' verify '$T/store-p2'" /dev/null > "$T/tty" 2>&1
is "$?" 0 "under script(1), restore and verify exit 0"
like "$(tr '\r' '\n' < "$T/tty")" "restoring \[#+\] 100%  $nevents/$nevents events" "and the progress line shows on the terminal"
ok $(grep -q $'\r' "$T/tty"; echo $?) "redrawn with carriage returns"
like "$(tr '\r' '\n' < "$T/tty")" "verifying \[" "verify shows it too"

done_testing
