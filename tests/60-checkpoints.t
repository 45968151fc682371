#!/bin/bash
# 60-checkpoints.t — checkpoints/NAME: writing a decimal position (with or
# without a newline) creates or moves it, reading gives "N\n", positions
# beyond the last global position and anything not a number get EINVAL and
# keep the old value, a failed first write leaves no checkpoint, ls lists
# them, rm deletes them, names follow the name rules.
. "$(dirname "$0")/lib.sh"

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

C=$M/checkpoints

# one_write FILE FORMAT: printf FORMAT to FILE in one write(); ok or the error
one_write() {
	printf -- "$2" > "$T/msg"
	try bash -c 'cat "$1" > "$2"' _ "$T/msg" "$1"
}

# ---- On an empty store. -----------------------------------------------

is "$(ls "$C" | wc -l)" 0 "no checkpoints at first"
is "$(try cat "$C/orders")" "No such file or directory" "a checkpoint never written: ENOENT"
is "$(try bash -c 'echo 0 > "$1"' _ "$C/start")" ok "echo 0 works on an empty store"
is "$(cat "$C/start")" 0 "and reads back 0"
is "$(try bash -c 'echo 1 > "$1"' _ "$C/orders")" "Invalid argument" \
	"echo 1 on an empty store (beyond the last position, 0): EINVAL"
is "$(try cat "$C/orders")" "No such file or directory" "a failed first write leaves no checkpoint"
is "$(ls "$C")" start "ls checkpoints shows only the good one"

# ---- 45 events. -------------------------------------------------------

mkdir "$M/streams/Order-1"
items=$(for i in $(seq 1 45); do printf '{"event_type":"E","data":{"i":%d}}\n' "$i"; done | paste -sd, -)
is "$(append "$M/streams/Order-1/new" "Expected-Version: 0

[$items]")" ok "45 events"
is "$(ls "$M/all" | wc -l)" 45 "all/ has 45 events"

is "$(try bash -c 'echo 42 > "$1"' _ "$C/orders")" ok "echo 42 > checkpoints/orders"
is "$(cat "$C/orders")" 42 "cat gives 42"
is "$(cat "$C/orders" | od -An -c | tr -d ' ')" '42\n' "exactly \"42\\n\""
is "$(stat -c %s "$C/orders")" 3 "st_size is 3"
is "$(ls "$C" | sort | tr '\n' ' ')" "orders start " "ls checkpoints lists both"
is "$(try bash -c 'echo 45 > "$1"' _ "$C/orders")" ok "the last global position is allowed"
is "$(cat "$C/orders")" 45 "and moves it"
is "$(try bash -c 'echo 46 > "$1"' _ "$C/orders")" "Invalid argument" \
	"a position beyond the last global position: EINVAL"
is "$(cat "$C/orders")" 45 "the old value is kept"
like "$(tail -n 1 "$LOG")" 'orders' "the log line names the checkpoint"
is "$(try bash -c 'printf 7 > "$1"' _ "$C/orders")" ok "printf 7 (no newline) works"
is "$(cat "$C/orders")" 7 "and reads back 7"
is "$(try bash -c 'echo 12 > "$1"' _ "$C/orders")" ok "rewriting works"
is "$(cat "$C/orders")" 12 "and moves it (backwards too)"
is "$(try bash -c 'echo 0 > "$1"' _ "$C/orders")" ok "0 is a position"
is "$(cat "$C/orders")" 0 "and reads back 0"
echo 12 > "$C/orders"

# ---- Bad values. ------------------------------------------------------

bad() {	# bad SHOWN FORMAT
	is "$(one_write "$C/orders" "$2")" "Invalid argument" "$1: EINVAL"
	is "$(cat "$C/orders")" 12 "$1: the old value is kept"
}
bad '"abc"' 'abc\n'
bad '"" (an empty line)' '\n'
bad '"-1"' '-1\n'
bad '" 3"' ' 3\n'
bad '"3 4"' '3 4\n'
bad '"3 " (a trailing space)' '3 \n'
bad '"+3"' '+3\n'
bad '"0x10"' '0x10\n'
bad '"1e1"' '1e1\n'
bad '"3.0"' '3.0\n'
bad '"3" and two newlines' '3\n\n'
bad '"99999999999999999999"' '99999999999999999999\n'
bad '"3\0" (a NUL byte)' '3\0\n'
is "$(try bash -c 'echo abc > "$1"' _ "$C/orders")" "Invalid argument" "echo abc: EINVAL"
is "$(try bash -c 'echo "" > "$1"' _ "$C/orders")" "Invalid argument" 'echo "": EINVAL'
is "$(try bash -c 'echo " 3" > "$1"' _ "$C/orders")" "Invalid argument" 'echo " 3": EINVAL'
is "$(try bash -c 'echo "3 4" > "$1"' _ "$C/orders")" "Invalid argument" 'echo "3 4": EINVAL'
is "$(try bash -c 'printf -- "-1\\n" > "$1"' _ "$C/orders")" "Invalid argument" 'printf -- "-1\n" (a negative number): EINVAL'
is "$(cat "$C/orders")" 12 "after all of them the value is still 12"

# ---- A failed first write to a new name. ------------------------------

is "$(try bash -c 'echo abc > "$1"' _ "$C/fresh")" "Invalid argument" "echo abc to a new name: EINVAL"
is "$(try cat "$C/fresh")" "No such file or directory" "leaves no checkpoint"
is "$(try bash -c 'echo 99 > "$1"' _ "$C/fresh2")" "Invalid argument" "echo 99 (beyond) to a new name: EINVAL"
is "$(ls "$C" | sort | tr '\n' ' ')" "orders start " "ls checkpoints shows neither"
is "$(find "$C" -type f | wc -l)" 2 "find sees two checkpoint files"
is "$(try bash -c 'echo 3 > "$1"' _ "$C/fresh")" ok "the name can be written properly afterwards"
is "$(cat "$C/fresh")" 3 "and reads back"

# ---- Names. -----------------------------------------------------------

is "$(try bash -c 'echo 1 > "$1"' _ "$C/.hidden")" "Invalid argument" "a name starting with '.': EINVAL"
is "$(try bash -c 'echo 1 > "$1"' _ "$C/a$(printf '\001')b")" "Invalid argument" "a name with a control character: EINVAL"
is "$(try bash -c 'echo 1 > "$1"' _ "$C/$(head -c 256 /dev/zero | tr '\0' c)")" "Invalid argument" \
	"a 256-byte name: EINVAL"
is "$(try bash -c 'echo 1 > "$1"' _ "$C/bad$(printf '\377')")" "Invalid argument" "a name that is not UTF-8: EINVAL"
is "$(try bash -c 'echo 5 > "$1"' _ "$C/Projektor-ü")" ok "a UTF-8 name works"
is "$(cat "$C/Projektor-ü")" 5 "and reads back"
is "$(ls -A "$C" | sort | tr '\n' ' ')" "Projektor-ü fresh orders start " "ls lists exactly the good names"
is "$(try mkdir "$C/dir")" "Operation not permitted" "mkdir in checkpoints/ is refused"

# ---- rm. --------------------------------------------------------------

is "$(try rm "$C/orders")" ok "rm checkpoints/orders"
is "$(try cat "$C/orders")" "No such file or directory" "then cat fails with ENOENT"
is "$(ls "$C" | grep -c '^orders$')" 0 "and ls no longer lists it"
is "$(try rm "$C/orders")" "No such file or directory" "rm of a missing checkpoint fails"
is "$(ls "$M/all" | wc -l)" 45 "no event was touched"
is "$(try bash -c 'echo 44 > "$1"' _ "$C/orders")" ok "a deleted checkpoint can be made again"
is "$(cat "$C/orders")" 44 "and reads back"

unmount_esfs
ok $? "unmounts cleanly"
done_testing
