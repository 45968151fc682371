#!/bin/bash
# 35-writers.t — real writers meet a failed message: a C write() loop,
# Python (open().write(), an os.write loop) and Node (fs.writeFileSync,
# fs.promises.writeFile, a FileHandle.write loop) each write whole messages
# under and over 1 MiB that fail — a conflict, an event over the limit, an
# unknown header, a body that is not JSON — and each must see that
# message's own errno, although the kernel cuts writes over 1 MiB into
# pieces and the writers resend the rest after a short count, some of them
# twice (libuv, then Node). Nothing of a failed message is stored, and it
# is logged once. Good messages over 1 MiB still go through every writer.
# Then the writer learns why: new opened read-write reads back one line,
# "ENAME reason", after a failed message, where a committed one gives
# "VERSION POSITION".
. "$(dirname "$0")/lib.sh"

C=$TOP/tests/clients
cc -O2 -o "$T/write_all" "$C/write_all.c"
ok $? "the C writer builds"

# msg KIND BYTES: a message of about BYTES that fails as KIND says
#   conflict  a batch with Expected-Version 7 (the stream is at 1): EEXIST
#   efbig     one event whose data is BYTES long: EFBIG over max_event
#   header    an unknown header, found when the message is whole: EINVAL
#   junk      a body that is not JSON, found at its first byte: EINVAL
#   good      a batch with Expected-Version any
msg() {
	python3 - "$1" "$2" <<'PY'
import json, sys
kind, size = sys.argv[1], int(sys.argv[2])
pad = "x" * 1000
if kind in ("conflict", "good"):
    items = [{"event_type": "T", "data": {"pad": pad}}] * max(1, size // 1040)
    head = "Expected-Version: 7\n" if kind == "conflict" else "Expected-Version: any\n"
    sys.stdout.write(head + "\n" + json.dumps(items, separators=(",", ":")) + "\n")
elif kind == "efbig":
    sys.stdout.write('Expected-Version: any\nEvent-Type: T\n\n{"pad":"%s"}\n' % ("x" * size))
elif kind == "header":
    sys.stdout.write('Expected-Version: any\nBogus: 1\nEvent-Type: T\n\n{"pad":"%s"}\n' % ("x" * size))
else:
    sys.stdout.write("Expected-Version: any\nEvent-Type: T\n\n" + "x" * size + "\n")
PY
}

# write_with HOW FILE < MESSAGE: writes MESSAGE with one of the writers
write_with() {
	case $1 in
	c) "$T/write_all" "$2" ;;
	py-open | py-oswrite) python3 "$C/write.py" "$2" "${1#py-}" ;;
	node-*) node "$C/write.js" "$2" "${1#node-}" ;;
	esac
}

WRITERS="c py-open py-oswrite node-sync node-promises node-handle"
errno_of() {
	case $1 in
	conflict) echo EEXIST ;;
	efbig) echo EFBIG ;;
	header | junk) echo EINVAL ;;
	good) echo ok ;;
	esac
}
loglines() {
	grep -c "append to stream W-1:" "$LOG"
}

# case_of KIND BYTES: every writer writes that message; checks the errno,
# that nothing was stored, and that it was logged once.
case_of() {
	local kind=$1 bytes=$2 w before lines
	msg "$kind" "$bytes" > "$T/msg"
	for w in $WRITERS; do
		before=$(ls "$M/streams/W-1" | wc -l)
		lines=$(loglines)
		is "$(write_with "$w" "$M/streams/W-1/new" < "$T/msg")" "$(errno_of "$kind")" \
			"$w, $kind, $(stat -c %s "$T/msg") bytes: $(errno_of "$kind")"
		is "$(ls "$M/streams/W-1" | wc -l)" "$before" "  ... nothing of it is stored"
		is "$(( $(loglines) - lines ))" 1 "  ... and it is logged once"
	done
}

mount_esfs || { ok 1 "esfs mounts"; done_testing; }
mkdir "$M/streams/W-1"
printf 'Expected-Version: 0\nEvent-Type: First\n\n{}\n' > "$M/streams/W-1/new"
ok $? "a first event: the stream is at version 1"

for bytes in 100000 2100000; do
	case_of conflict $bytes
	case_of header $bytes
	case_of junk $bytes
done
case_of efbig 1500000
case_of efbig 2100000

# Good messages over 1 MiB go through every writer, whole.
msg good 1500000 > "$T/msg"
n=$(jq 'length' < <(tail -n 1 "$T/msg"))
for w in $WRITERS; do
	before=$(ls "$M/streams/W-1" | wc -l)
	is "$(write_with "$w" "$M/streams/W-1/new" < "$T/msg")" ok "$w: a good batch of $(stat -c %s "$T/msg") bytes is stored"
	is "$(( $(ls "$M/streams/W-1" | wc -l) - before ))" "$n" "  ... all $n events of it"
done

# ---- The writer learns why. -------------------------------------------

mkdir "$M/streams/R-1"
exec 3<>"$M/streams/R-1/new"
printf 'Expected-Version: 0\nEvent-Type: T\n\n{}\n' >&3
read -r line <&3
is "$line" "1 $(ls "$M/all" | wc -l)" "a committed message reads back its version and position"
printf 'Expected-Version: 5\nEvent-Type: T\n\n{}\n' >&3 2>/dev/null
ok $((! $?)) "a conflict fails the write"
read -r line <&3
is "$line" "EEXIST wrong expected version: stream R-1, expected 5, actual 1" \
	"and reads back EEXIST, the expected and the actual version"
printf 'Expected-Version: 1\nBogus: x\nEvent-Type: T\n\n{}\n' >&3 2>/dev/null
read -r line <&3
is "$line" "EINVAL unknown header 'Bogus'" "an unknown header reads back EINVAL and the header"
printf 'Expected-Version: 1\nEvent-Type: T\n\n{} tail\n' >&3 2>/dev/null
read -r line <&3
is "$line" "EINVAL only spaces and tabs may follow the body on its line, not 'tail'" \
	"text after a body reads back EINVAL and the text"
printf 'Expected-Version: 1\nEvent-Type: T\n\n{"n":2}\n' >&3
read -r line <&3
is "$line" "2 $(ls "$M/all" | wc -l)" "the next good message reads back its version and position"
exec 3>&-

# One line per failed message, however often the writer resends its rest.
python3 - "$M/streams/R-1/new" "$T/out" <<'PY'
import os, sys
items = '{"event_type":"T","data":{"pad":"%s"}}' % ("x" * 1000)
msg = ("Expected-Version: 9\n\n[" + ",".join([items] * 2000) + "]\n").encode()
fd = os.open(sys.argv[1], os.O_RDWR)
err = "ok"
try:
    while msg:
        msg = msg[os.write(fd, msg):]
except OSError as e:
    err = e.strerror
out = os.read(fd, 65536).decode()
with open(sys.argv[2], "w") as f:
    f.write(err + "\n" + out)
PY
is "$(head -n 1 "$T/out")" "File exists" "Python: a 2 MB conflict over os.write fails with EEXIST"
is "$(tail -n +2 "$T/out")" "EEXIST wrong expected version: stream R-1, expected 9, actual 2" \
	"and reads back exactly one line for it"

# After a write the kernel cut fails, the rest of that write() never comes:
# the next message on the same descriptor is a message of its own. And a
# failed message that starts exactly where the kernel cut a write is still
# reported once.
mkdir "$M/streams/R-2" "$M/streams/R-3"
python3 - "$M/streams/R-2/new" "$T/out" "$M/streams/R-3/new" <<'PY'
import mmap, os, sys
path, out = sys.argv[1], sys.argv[2]
res = []
def write_all(fd, data):
    # from a page-aligned buffer, as a large allocation is
    buf = mmap.mmap(-1, len(data))
    buf.write(data)
    view, off = memoryview(buf), 0
    try:
        while off < len(data):
            off += os.write(fd, view[off:])
        return "ok"
    except OSError as e:
        return e.strerror
    finally:
        view.release()
        buf.close()
def good(v):
    return ("Expected-Version: %d\nEvent-Type: T\n\n{}\n" % v).encode()
fd = os.open(path, os.O_RDWR)
res.append(write_all(fd, b"Expected-Version: any\nEvent-Type: T\n\n" + b"x" * 2100000 + b"\n"))
res.append(write_all(fd, good(0)))
res.append(" ".join(os.read(fd, 4096).decode().splitlines()))
# on a stream of its own: good messages filling the first 1 MiB exactly,
# then a conflict
fd = os.open(sys.argv[3], os.O_RDWR)
msgs, v = b"", 0
big = lambda v: ("Expected-Version: %d\nEvent-Type: T\n\n{\"p\":\"%s\"}\n" % (v, "x" * 10000)).encode()
while len(msgs) < 1048576 - 20100:
    msgs += big(v)
    v += 1
pad = 1048576 - len(msgs) - len(("Expected-Version: %d\nEvent-Type: T\n\n{\"p\":\"\"}\n" % v).encode())
msgs += ("Expected-Version: %d\nEvent-Type: T\n\n{\"p\":\"%s\"}\n" % (v, "x" * pad)).encode()
assert len(msgs) == 1048576
res.append(write_all(fd, msgs + b"Expected-Version: 1\nEvent-Type: T\n\n{}\n"))
lines = os.read(fd, 1 << 20).decode().splitlines()
res.append("%d committed, then: %s" % (sum(1 for l in lines if l[0].isdigit()), " | ".join(l for l in lines if not l[0].isdigit())))
# a new message written in parts after a failed resend
res.append(write_all(fd, good(v + 1) + b"Expected-Version: any\nBogus: x\nEvent-Type: T\n\n{}\n"))
for part in (b"Expected-Version: any\n", b"Event-Type: T\n", b"\n{}\n"):
    res.append(write_all(fd, part))
res.append(" | ".join(os.read(fd, 4096).decode().splitlines()))
open(out, "w").write("\n".join(res) + "\n")
PY
is "$(sed -n 1p "$T/out")" "Invalid argument" "a 2.1 MB message whose body is not JSON fails with EINVAL"
is "$(sed -n 2p "$T/out")" ok "the next message on the same descriptor commits"
like "$(sed -n 3p "$T/out")" '^EINVAL the body must be one JSON object, or an array for a batch 1 [0-9]+$' \
	"read back: the failure, then the commit"
is "$(sed -n 4p "$T/out")" "File exists" "good messages filling the first 1 MiB, then a conflict: EEXIST"
like "$(sed -n 5p "$T/out")" '^[0-9]+ committed, then: EEXIST wrong expected version: stream R-3, expected 1, actual [0-9]+$' \
	"the good ones commit and the conflict reads back once, though it starts where the kernel cut"
is "$(sed -n 6p "$T/out")" "Invalid argument" "a good and a bad message in one write: EINVAL for the bad one's resend"
is "$(sed -n 7,9p "$T/out" | tr '\n' ' ')" "ok ok ok " "a new message then written line by line is taken"
like "$(sed -n 10p "$T/out")" "^[0-9]+ [0-9]+ \| EINVAL unknown header 'Bogus' \| [0-9]+ [0-9]+$" \
	"read back: the good one, the failure once, the new one"
unmount_esfs
ok $? "unmounts cleanly"

# ---- An event over the limit in a message under 1 MiB. ------------------

mount_esfs -o max_event=65536 || { ok 1 "esfs mounts with max_event=65536"; done_testing; }
case_of efbig 100000
exec 3<>"$M/streams/R-1/new"
printf 'Expected-Version: 2\nEvent-Type: T\n\n{"pad":"%s"}\n' "$(head -c 70000 /dev/zero | tr '\0' x)" >&3 2>/dev/null
read -r line <&3
like "$line" '^EFBIG event 1 is [0-9]+ bytes, over the limit of 65536$' "an event over the limit reads back EFBIG, its size and the limit"
exec 3>&-
python3 - "$M/streams/R-3/new" <<'PY' > "$T/out"
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
for msg in (b"Expected-Version: any\nEvent-Type: T\n\n{\"p\":\"" + b"x" * 2000000 + b"\"}\n",
            b"Expected-Version: any\nEvent-Type: T\n\n{}\n"):
    try:
        while msg:
            msg = msg[os.write(fd, msg):]
        print("ok")
    except OSError as e:
        print(e.strerror)
PY
is "$(cat "$T/out" | tr '\n' ' ')" "File too large ok " \
	"a message over 16 x max_event fails EFBIG mid-way, and the next one on the descriptor commits"
is "$(ls "$M/streams/W-1" | wc -l)" "$((1 + 6 * n + 1))" "W-1 holds the first event and the six good batches, nothing else"
unmount_esfs
ok $? "unmounts cleanly"
done_testing
