#!/bin/bash
# 97-projections.t — the worked examples in tools/projections/, run against a
# real mount with known events, with exact results:
#   order-totals.awk    totals per customer and per day, of the whole log
#                       (feed/0) and of one stream;
#   order-state.sh      the jq read model: the JSON document (compared with
#                       jq -S), continued from its checkpoint, safe to re-run
#                       after a crash between document and checkpoint,
#                       rebuilt when deleted or older than the checkpoint;
#   order-consumer.sh   the live consumer of subscriptions/NAME: follows new
#                       events, skips a repeat after a crash, rebuilds a lost
#                       state, and, killed with SIGKILL again and again while
#                       events keep being appended and restarted, ends with
#                       totals equal to the exact sum of what was appended.
: "${TEST_TIMEOUT:=600}"
export TEST_TIMEOUT
. "$(dirname "$0")/lib.sh"
P=$TOP/tools/projections

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

# ev STREAM TYPE DATA: appends one event, creating the stream if needed.
ev() {
	[ -d "$M/streams/$1" ] || mkdir "$M/streams/$1" || return 1
	printf 'Expected-Version: any\nEvent-Type: %s\n\n%s\n' "$2" "$3" > "$M/streams/$1/new"
}
head_pos() {
	stat -c %s "$M/all"
}

# ---- the known events

{
	ev Order-1 OrderPlaced '{"customer":"alice","total":21.5,"items":[{"sku":"A-1","qty":1,"price":21.5}]}' &&
	ev Customer-alice CustomerRegistered '{"name":"Alice","total":1000}' &&
	ev Order-2 OrderPlaced '{"customer":"bob","total":10,"items":[{"sku":"C-3","qty":4,"price":2.5}]}' &&
	ev Order-1 ItemAdded '{"sku":"B-2","qty":2,"price":3.25}' &&
	ev Order-3 OrderPlaced '{"customer":"alice","total":5.75,"items":[{"sku":"D-4","qty":1,"price":5.75}]}' &&
	ev Order-2 OrderCancelled '{"reason":"changed mind"}' &&
	ev Order-1 OrderShipped '{"carrier":"DHL"}' &&
	ev Order-4 OrderPlaced '{"customer":"carol","total":99.99,"items":[{"sku":"E-5","qty":1,"price":99.99}]}' &&
	ev Order-6 ItemAdded '{"sku":"X-9","qty":1,"price":7}' &&
	ev Order-4 ItemAdded '{"sku":"F-6","qty":3,"price":0.01}' &&
	mkdir "$M/streams/Order-5" &&
	printf '%s\n' 'Expected-Version: 0' '' \
		'[{"event_type":"OrderPlaced","data":{"customer":"bob","total":12.25,"items":[{"sku":"G-7","qty":1,"price":12.25}]}},' \
		' {"event_type":"ItemAdded","data":{"sku":"H-8","qty":1,"price":0.75}}]' > "$M/streams/Order-5/new"
}
ok $? "the known events are appended"
is "$(head_pos)" 12 "... 12 of them"

# ---- a. order-totals.awk

totals='alice 2 33.75
bob 1 13.00
carol 1 100.02'
is "$("$P/order-totals.awk" < "$M/feed/0")" "$totals" "order-totals.awk < feed/0: orders and totals per customer"
is "$(cd "$M" && cat all/* | awk -f "$P/order-totals.awk")" "$totals" "... the same from cat all/* | awk -f"
is "$(cd "$M" && "$P/order-totals.awk" by=customer streams/Order-*/0*)" "$totals" "... and from streams/Order-*/0*"
is "$("$P/order-totals.awk" "$M"/streams/Order-1/0*)" "alice 1 28.00" "one stream: Order-1, placed and an item added"
is "$(cat "$M"/streams/Order-2/* | "$P/order-totals.awk")" "bob 0 0.00" "one stream: Order-2, cancelled (cat streams/S/*)"
is "$("$P/order-totals.awk" "$M"/streams/Order-6/0*)" "" "one stream: Order-6, never placed, counts nothing"
days=$(jq -r '.created_at[:10]' < "$M/feed/0" | sort -u)
if [ "$(printf '%s\n' "$days" | wc -l)" -eq 1 ]; then
	is "$("$P/order-totals.awk" by=day < "$M/feed/0")" "$days 5 1 146.77" \
		"by=day: placed, cancelled and net amount of the day"
else
	ok 0 "by=day # SKIP the events straddle midnight UTC"
fi
is "$(head -n 4 "$M/feed/0" | "$P/order-totals.awk" -v by=day | cut -d' ' -f2-)" "2 0 38.00" \
	"by=day (-v by=day) of the first 4 events"
"$P/order-totals.awk" by=week < /dev/null 2> "$T/err"
is "$?" 2 "by=week: exit status 2"
like "$(cat "$T/err")" 'by=customer or by=day' "... and says what works"
if [ -d "$M/categories" ]; then
	is "$(cat "$M"/categories/Order/* | "$P/order-totals.awk")" "$totals" "cat categories/Order/* | order-totals.awk"
else
	ok 0 "categories/Order # SKIP categories/ is not there yet"
fi

# ---- b. order-state.sh

expected_doc() {	# expected_doc POSITION [ORDER-3-STATUS]
	jq -S -n --argjson pos "$1" '{position: $pos, orders: {
	  "Order-1": {customer: "alice", status: "shipped", carrier: "DHL", version: 3, total: 28,
	              items: [{sku: "A-1", qty: 1, price: 21.5}, {sku: "B-2", qty: 2, price: 3.25}]},
	  "Order-2": {customer: "bob", status: "cancelled", reason: "changed mind", version: 2, total: 10,
	              items: [{sku: "C-3", qty: 4, price: 2.5}]},
	  "Order-3": {customer: "alice", status: "placed", version: 1, total: 5.75,
	              items: [{sku: "D-4", qty: 1, price: 5.75}]},
	  "Order-4": {customer: "carol", status: "placed", version: 2, total: 100.02,
	              items: [{sku: "E-5", qty: 1, price: 99.99}, {sku: "F-6", qty: 3, price: 0.01}]},
	  "Order-5": {customer: "bob", status: "placed", version: 2, total: 13,
	              items: [{sku: "G-7", qty: 1, price: 12.25}, {sku: "H-8", qty: 1, price: 0.75}]}}}'
}
RM=$T/readmodel
"$P/order-state.sh" "$M" "$RM" > "$T/out" 2>&1
is "$?" 0 "order-state.sh MOUNT OUTDIR exits 0"
is "$(cat "$T/out")" "" "... and prints nothing"
is "$(jq -S . "$RM/orders.json")" "$(expected_doc 12)" "orders.json: the state of every order, as jq -S"
is "$(cat "$M/checkpoints/order-state")" 12 "checkpoints/order-state is the last position folded in"
is "$(ls -A "$RM")" "orders.json" "no temporary file is left in OUTDIR"
cp "$RM/orders.json" "$T/doc-at-12"

ev Order-3 OrderShipped '{"carrier":"UPS"}' &&
ev Order-7 OrderPlaced '{"customer":"dave","total":1.5,"items":[{"sku":"I-9","qty":3,"price":0.5}]}'
ok $? "two more events"
want14=$(expected_doc 14 | jq -S '.orders["Order-3"] += {status: "shipped", carrier: "UPS", version: 2}
	| .orders["Order-7"] = {customer: "dave", status: "placed", version: 1, total: 1.5,
	                        items: [{sku: "I-9", qty: 3, price: 0.5}]}')
"$P/order-state.sh" "$M" "$RM"
is "$?" 0 "a second run exits 0"
is "$(jq -S . "$RM/orders.json")" "$want14" "... and folds in the two new events"
is "$(cat "$M/checkpoints/order-state")" 14 "... checkpoint 14"
"$P/order-state.sh" "$M" "$RM"
is "$(jq -S . "$RM/orders.json")" "$want14" "a run with nothing new changes nothing"

echo 3 > "$M/checkpoints/order-state"
"$P/order-state.sh" "$M" "$RM"
is "$(jq -S . "$RM/orders.json")" "$want14" \
	"a checkpoint behind the document (a crash between the two writes): nothing is applied twice"
is "$(cat "$M/checkpoints/order-state")" 14 "... and the checkpoint catches up"

cp "$T/doc-at-12" "$RM/orders.json"
"$P/order-state.sh" "$M" "$RM"
is "$(jq -S . "$RM/orders.json")" "$want14" \
	"a document older than the checkpoint (restored from a backup) gets the events it lacks"

rm "$RM/orders.json"
"$P/order-state.sh" "$M" "$RM"
is "$(jq -S . "$RM/orders.json")" "$want14" "a deleted document is rebuilt from the first event"

"$P/order-state.sh" "$M" "$T/rm2" other
is "$(jq -S . "$T/rm2/orders.json")" "$want14" "another NAME is another reader with its own checkpoint"
is "$(cat "$M/checkpoints/other")" 14 "... checkpoints/other"

"$P/order-state.sh" "$M" > /dev/null 2>&1
is "$?" 2 "order-state.sh without OUTDIR: usage, exit status 2"
"$P/order-state.sh" "$T/nomount" "$T/rm3" > /dev/null 2>&1
ok $([ $? -ne 0 ]; echo $?) "order-state.sh on a directory that is not a mount fails"

# ---- c. order-consumer.sh

C=$T/consumer
SUBS=	# the sessions of every consumer started, to end them all at the end

# start_consumer: starts order-consumer.sh in a session of its own (so that
# kill -9 -- -PID is a crash of the consumer and everything it started).
# (It is not a child of this shell, which would report its kills on stderr.)
start_consumer() {
	CPID=$(setsid -f bash -c 'echo $$; exec "$@" >> "$0.out" 2>> "$0.err" < /dev/null' \
		"$T/consumer" "$P/order-consumer.sh" "$M" "$C")
	SUBS="$SUBS $CPID"
}
gone() {	# gone PID: waits (at most 20 s) until PID has exited
	local i
	for i in $(seq 1 200); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
ckpt() {
	cat "$M/checkpoints/order-consumer" 2>/dev/null || echo 0
}
applied() {
	awk -F'\t' '$1 == "position" { print $2 }' "$C/state" 2>/dev/null
}
# wait_until WHAT CMD...: waits (at most 240 s) until CMD succeeds, while the
# consumer runs; prints a diagnostic and returns 1 if it does not.
wait_until() {
	local what=$1 i
	shift
	for i in $(seq 1 2400); do
		"$@" && return 0
		if ! kill -0 "$CPID" 2>/dev/null; then
			diag "the consumer exited while waiting until $what: $(tail -n 3 "$T/consumer.err")"
			return 1
		fi
		sleep 0.1
	done
	diag "waited 240 s until $what"
	return 1
}
caught_up() {
	[ "$(ckpt)" = "$(head_pos)" ] && [ "$(applied)" = "$(head_pos)" ]
}
ckpt_at_least() {
	[ "$(ckpt)" -ge "$1" ]
}
head_at_least() {
	[ "$(head_pos)" -ge "$1" ]
}
stop_consumer() {	# SIGKILL, the whole session
	kill -9 -- -"$CPID" 2>/dev/null
	gone "$CPID"
}
end_all_consumers() {
	local s
	for s in $SUBS; do
		kill -9 -- -"$s" 2>/dev/null
	done
}

ctotals='alice 33.75
bob 13.00
carol 100.02
dave 1.50'

if [ ! -d "$M/subscriptions" ]; then
	diag "subscriptions/ is not in this esfs yet: the consumer's tests fail"
fi

start_consumer
wait_until "it has caught up with the log" caught_up
ok $? "order-consumer.sh follows subscriptions/order-consumer up to the head"
is "$(cat "$C/totals" 2>/dev/null)" "$ctotals" "totals: the sum per customer, cancelled orders left out"
is "$(ckpt)" 14 "checkpoints/order-consumer is the last event"

ev Order-7 ItemAdded '{"sku":"J-1","qty":1,"price":2.25}'
wait_until "it has applied the new event" caught_up
ok $? "an event appended while it waits at the head reaches it"
ctotals=${ctotals/dave 1.50/dave 3.75}
is "$(cat "$C/totals")" "$ctotals" "... and is in the totals"
ok $(kill -0 "$CPID" 2>/dev/null; echo $?) "... and it still runs"

# A crash after the state was written but before the checkpoint: the
# subscription gives the last event again, and it is skipped.
stop_consumer
echo 14 > "$M/checkpoints/order-consumer"
start_consumer
wait_until "it has caught up again" caught_up
ok $? "restarted with the checkpoint one event behind its state"
is "$(cat "$C/totals")" "$ctotals" "... the repeated event is not counted twice"
like "$(cat "$T/consumer.err")" '15 is applied already; skipped' "... it says it skipped it"

# The state lost (deleted, or rolled back by a power cut): the checkpoint is
# moved back and everything is applied again, once.
stop_consumer
rm -r "$C"
start_consumer
wait_until "it has rebuilt its state" caught_up
ok $? "restarted without its state"
is "$(cat "$C/totals")" "$ctotals" "... the totals are rebuilt from the first event, each event once"
like "$(cat "$T/consumer.err")" 'moving the checkpoint back' "... it says it moved the checkpoint back"

# SIGKILL while events keep coming. The appender writes orders until told to
# stop, each one acknowledged before the next, and keeps the exact total per
# customer, in cents, of what it has appended.
appender() {
	local i=0 who cents
	local -A sum
	while [ ! -e "$T/stop" ]; do
		i=$((i + 1))
		who=load$((i % 3))
		cents=$((i * 100 + 25))
		mkdir "$M/streams/Order-L$i" || return 1
		if [ $((i % 3)) -eq 0 ]; then		# placed and an item, in a batch
			printf 'Expected-Version: 0\n\n[{"event_type":"OrderPlaced","data":{"customer":"%s","total":%d.25}},{"event_type":"ItemAdded","data":{"sku":"K","qty":2,"price":0.5}}]\n' \
				"$who" "$i" > "$M/streams/Order-L$i/new" || return 1
			cents=$((cents + 100))
		else
			printf 'Expected-Version: 0\nEvent-Type: OrderPlaced\n\n{"customer":"%s","total":%d.25}\n' \
				"$who" "$i" > "$M/streams/Order-L$i/new" || return 1
		fi
		if [ $((i % 5)) -eq 0 ]; then
			printf 'Expected-Version: any\nEvent-Type: OrderCancelled\n\n{"reason":"test"}\n' \
				> "$M/streams/Order-L$i/new" || return 1
			cents=0
		fi
		sum[$who]=$(( ${sum[$who]:-0} + cents ))
		for who in "${!sum[@]}"; do
			printf '%s %d.%02d\n' "$who" $((${sum[$who]} / 100)) $((${sum[$who]} % 100))
		done | sort > "$T/appended.tmp" && mv "$T/appended.tmp" "$T/appended"
		echo "$i" > "$T/orders"
		sleep 0.05
	done
}
# Its status goes to a file: bash 5.2's wait can hang on a pid that has
# been reused after the pids wrapped around.
{ appender; echo $? > "$T/appender.status"; } &
APID=$!
k1=$(( $(head_pos) + 30 ))
wait_until "the consumer is at $k1" ckpt_at_least "$k1"
ok $? "while orders are appended, the consumer gets to position $k1"
kill -9 "$CPID"			# the consumer's bash only; its cat is left behind
gone "$CPID"
h=$(( $(head_pos) + 20 ))
wait_until_head() {
	local i
	for i in $(seq 1 2400); do
		head_at_least "$1" && return 0
		kill -0 "$APID" 2>/dev/null || { diag "the appender stopped"; return 1; }
		sleep 0.1
	done
	return 1
}
wait_until_head "$h"
ok $? "kill -9 of the consumer, and 20 more events appended while it is down"
diag "killed at checkpoint $(ckpt), head $(head_pos)"
start_consumer
k2=$(( $(ckpt) + 40 ))
wait_until "the consumer is at $k2" ckpt_at_least "$k2"
ok $? "restarted, it goes on (position $k2)"
stop_consumer			# kill -9 of its whole session
wait_until_head $(( $(head_pos) + 20 ))
ok $? "kill -9 of the consumer's session, and 20 more events appended"
diag "killed at checkpoint $(ckpt), head $(head_pos)"
start_consumer
k3=$(( $(ckpt) + 30 ))
wait_until "the consumer is at $k3" ckpt_at_least "$k3"
ok $? "restarted again, it goes on (position $k3)"
ok $(kill -0 "$APID" 2>/dev/null; echo $?) "... the appender still runs"
touch "$T/stop"
for i in $(seq 1 600); do [ -s "$T/appender.status" ] && break; sleep 0.1; done
is "$(cat "$T/appender.status" 2>/dev/null)" 0 "the appender stops; every append succeeded"
diag "appended $(cat "$T/orders") orders; head $(head_pos)"
wait_until "it has caught up with the log" caught_up
ok $? "the consumer catches up with the head"

want=$(printf '%s\n' "$ctotals" "$(cat "$T/appended")" | LC_ALL=C sort)
is "$(cat "$C/totals")" "$want" \
	"after three crashes, the totals are the exact sum of what was appended: nothing lost, nothing twice"
is "$("$P/order-totals.awk" < "$M/feed/0" | cut -d' ' -f1,3)" "$want" \
	"... the same totals as order-totals.awk over feed/0"
"$P/order-state.sh" "$M" "$RM"
is "$(jq -r '.orders[] | select(.status != "cancelled") | [.customer, .total] | @tsv' "$RM/orders.json" |
	awk -F'\t' '{ t[$1] += $2 } END { for (c in t) printf "%s %.2f\n", c, t[c] }' | LC_ALL=C sort)" "$want" \
	"... and as order-state.sh's document"

end_all_consumers
unmount_esfs
ok $? "unmounts cleanly"
done_testing
