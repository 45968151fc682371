#!/bin/bash
# 82-soak.t — the crash soak, short form: tools/esfs-soak runs 20 cycles of
# concurrent writers (single events, batches, snapshots, checkpoints) and a
# SIGKILL of the daemon at a random moment, and after each remount checks
# that every acknowledged write is there, byte for byte and exactly once,
# that versions and positions have no gaps, that no batch is stored in part,
# and that the store still serves. The seed is random (SOAK_SEED sets it) and
# printed, so that a failure can be replayed.
. "$(dirname "$0")/lib.sh"

seed=${SOAK_SEED:-$(( (RANDOM * 32768 + RANDOM) % 1000000000 ))}	# esfs-soak takes seeds below 10^9
diag "esfs-soak --cycles 20 --seed $seed"

run_soak "$T/soak.out" --cycles 20 --seed "$seed" --esfs "$ESFS" --dir "$T/soak"
if [ "$rc" -ne 0 ]; then	# prove shows stderr even when not verbose
	tail -n 15 "$T/soak.out" >&2
	tail -n 15 "$T/soak/esfs.log" >&2 2>/dev/null
fi

is "$rc" 0 "esfs-soak exits 0"
summary=$(grep '^esfs-soak: [0-9]* cycles' "$T/soak.out")
like "$summary" '^esfs-soak: 20 cycles, ' "the summary reports 20 cycles"
events=$(printf '%s' "$summary" | sed -n 's/.* cycles, \([0-9]*\) events acknowledged,.*/\1/p')
ok "$([ "${events:-0}" -gt 0 ]; echo $?)" "the writers had events acknowledged (${events:-none})"
like "$summary" ', 20 kills, 0 failures, ' "20 kills and 0 failures"
is "$(grep -c '^cycle [0-9]*/20: .*: ok$' "$T/soak.out")" 20 "every cycle passed its checks"
mountpoint -q "$T/soak/mnt"
ok $((! $?)) "nothing is left mounted"

done_testing
