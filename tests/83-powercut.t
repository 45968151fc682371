#!/bin/bash
# 83-powercut.t — power cuts. First lossyfs itself (tools/lossyfs, the lossy
# disk): unsynced writes are read back but lost at a cut, fsync'd and
# O_DSYNC ones are kept, overlapping writes keep the newest bytes, and a
# subset cut is reproducible from its seed.
# Then tools/esfs-soak --power-cut runs 20 cycles of concurrent writers
# against esfs with its store on lossyfs, cutting the power at a random
# moment (cut=drop and cut=subset, mixed), and finds nothing acknowledged
# lost; and a few against build/unsafe/esfs, whose store does not sync
# (make unsafe), where it must find loss. The seed is random (SOAK_SEED sets
# it) and printed.
. "$(dirname "$0")/lib.sh"

LOSSYFS=${LOSSYFS:-$TOP/bin/lossyfs}
ESFSCTL=${ESFSCTL:-$TOP/bin/esfsctl}
ESFS_UNSAFE=${ESFS_UNSAFE:-$TOP/build/unsafe/esfs}
for bin in "$LOSSYFS" "$ESFSCTL" "$ESFS_UNSAFE"; do
	[ -x "$bin" ] || { echo "Bail out! no $bin (make lossyfs unsafe)"; exit 1; }
done

# ---- lossyfs by itself

B=$T/backing
D=$T/disk
LPID=
mkdir -p "$B" "$D"
# (every exit: lib.sh's cleanup after ours, which clears lossyfs's mount)
trap 'mountpoint -q "$D" && fusermount3 -u -z "$D"; [ -n "$LPID" ] && kill -9 "$LPID" 2>/dev/null; _cleanup' EXIT

lossy_mount() {	# lossy_mount OPTIONS: lossyfs on D over B, in the foreground
	"$LOSSYFS" -f -o "$1" "$B" "$D" 2>>"$T/lossyfs.log" &
	LPID=$!
	local i
	for i in $(seq 1 100); do
		mountpoint -q "$D" && return 0
		sleep 0.05
	done
	return 1
}
lossy_cut() {	# lossy_cut: SIGUSR1, waits for the exit, clears the dead mount
	kill -USR1 "$LPID"
	wait "$LPID"
	local rc=$?
	LPID=
	fusermount3 -u -z "$D"
	return $rc
}

lossy_mount cut=drop
ok $? "lossyfs mounts"
printf 'pending\n' > "$D/plain"
printf 'synced\n' | dd of="$D/synced" conv=fsync 2>/dev/null
printf 'dsync\n' | dd of="$D/dsync" oflag=dsync 2>/dev/null
printf 'more\n' >> "$D/synced"
is "$(cat "$D/plain" "$D/synced")" "$(printf 'pending\nsynced\nmore')" "reads see pending writes"
is "$(stat -c %s "$D/plain") $(stat -c %s "$B/plain")" "8 0" "sizes include pending extensions; the backing file has none"
is "$(cat "$B/synced" "$B/dsync")" "$(printf 'synced\ndsync')" "fsync'd and O_DSYNC writes are in the backing files"
lossy_cut
ok $? "a cut exits 0"
is "$(stat -c %s "$B/plain"):$(cat "$B/synced")" "0:synced" "after a cut (drop), only the durable writes are there"
like "$(tail -n 1 "$T/lossyfs.log")" '^lossyfs: cut \(drop\): threw away 2 pending writes \(13 bytes\)$' "the cut reports what it dropped"

# overlapping writes, truncates and fsyncs at random, against a model
lossy_mount cut=drop
is "$(python3 - "$D/overlap" "$B/overlap" <<'EOF'
import os, random, sys
random.seed(83)
model = bytearray()
fd = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR)
for i in range(2000):
    off, n = random.randrange(20000), random.randrange(1, 3000)
    data = bytes([random.randrange(256)]) * n
    os.pwrite(fd, data, off)
    model[len(model):] = bytes(max(0, off + n - len(model)))
    model[off:off + n] = data
    if random.random() < 0.02:
        os.ftruncate(fd, len(model) // 2)
        del model[len(model) // 2:]
    if random.random() < 0.05:
        os.fsync(fd)
fresh = os.open(sys.argv[1], os.O_RDONLY)  # a new open reads from lossyfs, not the page cache
reads = os.pread(fresh, 1 << 20, 0) == model
os.fsync(fd)
print(reads, open(sys.argv[2], 'rb').read() == model)
EOF
)" "True True" "overlapping writes and truncates: reads, and the backing file after fsync, hold the newest bytes"
lossy_cut

# subset: 64 pending 4 KiB writes; the same seed gives the same disk
subset_run() {
	rm -rf "$B" && mkdir -p "$B" && lossy_mount cut=subset,seed=5 || return 1
	: | dd of="$D/f" conv=fsync 2>/dev/null
	local i
	for i in $(seq 0 63); do
		yes "block $i" | head -c 4096 | dd of="$D/f" bs=4096 seek="$i" conv=notrunc iflag=fullblock 2>/dev/null
	done
	lossy_cut || return 1
	md5sum < "$B/f"
}
first=$(subset_run)
second=$(subset_run)
report=$(tail -n 1 "$T/lossyfs.log")
like "$report" '^lossyfs: cut \(subset, seed 5\): applied [1-9][0-9]* of 64 pending writes \([0-9]+ of 262144 bytes\) in random order, one torn at [0-9]+ of its 4096 bytes$' \
	"a subset cut applies some of the pending writes, one torn ($report)"
n=$(printf '%s' "$report" | sed 's/.*applied \([0-9]*\) of.*/\1/')
ok "$([ "$n" -lt 64 ]; echo $?)" "... not all of them"
is "$second" "$first" "the same seed applies the same subset"
mountpoint -q "$D"
ok $((! $?)) "lossyfs left nothing mounted"

# ---- the soak, power-cut mode

seed=${SOAK_SEED:-$(( (RANDOM * 32768 + RANDOM) % 1000000000 ))}	# esfs-soak takes seeds below 10^9

# soak NAME ARGS...: esfs-soak --power-cut in $STORE-NAME (the name makes
# lib.sh's watchdog kill its daemons too), its output in $T/NAME.out; sets rc.
soak() {
	local name=$1
	shift
	run_soak "$T/$name.out" --power-cut --seed "$seed" --lossyfs "$LOSSYFS" --esfsctl "$ESFSCTL" \
		--dir "$STORE-$name" "$@"
}

diag "esfs-soak --power-cut --cycles 20 --seed $seed"
soak safe --cycles 20 --esfs "$ESFS"
[ "$rc" -ne 0 ] && tail -n 15 "$T/safe.out" >&2	# prove shows stderr even when not verbose
is "$rc" 0 "esfs-soak --power-cut exits 0 against esfs"
summary=$(grep '^esfs-soak: [0-9]* cycles' "$T/safe.out")
like "$summary" '^esfs-soak: 20 cycles, [1-9][0-9]* events acknowledged, .*, 20 cuts \([0-9]+ drop, [0-9]+ subset, 20 esfsctl verify\), 0 failures, ' \
	"20 cuts, each followed by esfsctl verify, events acknowledged, 0 failures"
is "$(grep -c '^cycle [0-9]*/20: cut (.*: ok$' "$T/safe.out")" 20 "every cycle passed its checks, esfsctl verify among them"
ok "$(grep -q '^cycle .*: cut (drop' "$T/safe.out" && grep -q '^cycle .*: cut (subset' "$T/safe.out"; echo $?)" \
	"both cut modes were used"
mountpoint -q "$STORE-safe/mnt" || mountpoint -q "$STORE-safe/disk"
ok $((! $?)) "nothing is left mounted"

diag "esfs-soak --power-cut --cycles 3 --seed $seed --esfs $ESFS_UNSAFE"
soak unsafe --cycles 3 --esfs "$ESFS_UNSAFE"
is "$rc" 1 "against the store that does not sync, esfs-soak --power-cut exits 1"
summary=$(grep '^esfs-soak: [0-9]* cycles' "$T/unsafe.out")
like "$summary" ' [1-9][0-9]* failures, ' "... and reports failures ($summary)"
like "$(grep -m 1 '^cycle 1/3: ' "$T/unsafe.out")" ' FAILED$' "the first cut already finds loss"
mountpoint -q "$STORE-unsafe/mnt" || mountpoint -q "$STORE-unsafe/disk"
ok $((! $?)) "nothing is left mounted"

done_testing
