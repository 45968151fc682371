#!/bin/bash
# order-consumer.sh — a live consumer in bash: it follows
# subscriptions/NAME and keeps every customer's order total up to date, one
# event at a time, forever. Kill it at any moment (Ctrl-C, kill -9, a power
# cut, a reboot) and start it again: it goes on from where it was, and no
# event is lost or counted twice.
#
#   order-consumer.sh MOUNTPOINT STATEDIR [NAME]
#
#   order-consumer.sh ~/esfs ~/order-totals &    # NAME defaults to order-consumer
#   cat ~/order-totals/totals                    # alice 28.00 …, kept current
#   cat ~/esfs/checkpoints/order-consumer        # the last event it has done
#
# How it works:
#
#  - `cat subscriptions/NAME` gives every event after checkpoints/NAME, one
#    envelope line each, in global order, and then waits for new ones.
#  - For each event it updates the totals in memory, writes its whole state
#    (the totals, every order's customer and amount, and the position of
#    this event) to STATEDIR/state in one atomic step (a temporary file
#    renamed over the old one), and then acknowledges the event:
#    `echo POSITION > checkpoints/NAME`.
#  - The subscription is at-least-once: killed after writing its state but
#    before the checkpoint, it gets that event again when it restarts. The
#    state says which position it has applied, so the repeat is skipped:
#    applying is idempotent, keyed by global_position.
#  - At start, if its state is behind the checkpoint (STATEDIR/state deleted,
#    or lost in a power cut, since it is not fsynced), it moves the checkpoint
#    back to the state's position first, so that those events come again.
#    Delete STATEDIR to rebuild the totals from the first event.
#
# The events it knows (the order is the stream, e.g. Order-abc123):
#
#   OrderPlaced     {"customer":"alice","total":21.5,…}   adds total
#   ItemAdded       {"sku":…,"qty":2,"price":3.25}        adds qty * price
#   OrderCancelled  {…}                                   takes the order's
#                                                          amount back off
#
# Amounts are kept as whole cents (bash has no fractions). Each event costs a
# jq, a rewrite of the state and a checkpoint (a durable commit in esfs):
# about 35 events a second on a small VM, plenty for a consumer of business
# events. The state is rewritten whole for every event, so it suits thousands
# of orders; for millions, keep the state in a database and store the
# position in the same transaction as the totals.
#
# Needs bash 4.4 or later, jq and coreutils.
set -u

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: order-consumer.sh MOUNTPOINT STATEDIR [NAME]" >&2
	exit 2
fi
mnt=$1
dir=$2
name=${3:-order-consumer}
state=$dir/state
mkdir -p "$dir" || exit 1

declare -A order_cents order_customer total
applied=0	# the global position of the last event in the state

# The state file, tab-separated, the position on its last line (so that a
# file cut short by a crash is seen as incomplete and thrown away):
#   order	CENTS	STREAM	CUSTOMER     an order (CENTS "cancelled" once it is)
#   customer	CENTS	CUSTOMER
#   position	N
load() {
	local kind cents key who complete=0
	[ -f "$state" ] || return 0
	while IFS=$'\t' read -r kind cents key who; do
		case $kind in
		order)    order_cents[$key]=$cents; order_customer[$key]=$who ;;
		customer) total[$key]=$cents ;;
		position) applied=$cents; complete=1 ;;
		esac
	done < "$state"
	if [ "$complete" -eq 0 ]; then
		echo "order-consumer: $state is incomplete; starting again from the first event" >&2
		order_cents=() order_customer=() total=() applied=0
	fi
}

save() {
	local k
	{
		for k in "${!order_cents[@]}"; do
			printf 'order\t%s\t%s\t%s\n' "${order_cents[$k]}" "$k" "${order_customer[$k]}"
		done
		for k in "${!total[@]}"; do
			printf 'customer\t%s\t%s\n' "${total[$k]}" "$k"
		done
		printf 'position\t%s\n' "$applied"
	} > "$state.tmp" && mv -f "$state.tmp" "$state" || return 1
	# For people: "CUSTOMER TOTAL" with two decimals, sorted. Derived from
	# the state, so it needs no care of its own.
	local c sign
	for k in "${!total[@]}"; do
		c=${total[$k]} sign=
		[ "$c" -lt 0 ] && sign=- c=$(( -c ))
		printf '%s %s%d.%02d\n' "$k" "$sign" $((c / 100)) $((c % 100))
	done | LC_ALL=C sort > "$dir/totals.tmp" && mv -f "$dir/totals.tmp" "$dir/totals"
}

# apply TYPE CENTS STREAM CUSTOMER: one event into the totals. (Names come
# from the events, so they are only ever expanded as ${array[$name]}: inside
# $(( )) or unset, bash would expand a name like $(…) a second time.)
apply() {
	local type=$1 cents=$2 order=$3 who=${4:--} have
	have=${order_cents[$order]:-}
	case $type in
	OrderPlaced)
		[ -z "$have" ] || return 0	# placed twice: once counts
		order_cents[$order]=$cents
		order_customer[$order]=$who
		total[$who]=$(( ${total[$who]:-0} + cents ))
		;;
	ItemAdded)
		[ -n "$have" ] && [ "$have" != cancelled ] || return 0
		who=${order_customer[$order]}
		order_cents[$order]=$(( have + cents ))
		total[$who]=$(( ${total[$who]} + cents ))
		;;
	OrderCancelled)
		[ -n "$have" ] && [ "$have" != cancelled ] || return 0
		who=${order_customer[$order]}
		total[$who]=$(( ${total[$who]} - have ))
		order_cents[$order]=cancelled	# kept, so that nothing counts it again
		;;
	esac
}

load
save || exit 1

# A state behind the checkpoint has not seen the events in between: ask for
# them again by moving the checkpoint back.
ckpt=0
[ -e "$mnt/checkpoints/$name" ] && ckpt=$(cat "$mnt/checkpoints/$name")
if [ "$applied" -lt "$ckpt" ]; then
	echo "order-consumer: state at $applied, checkpoint at $ckpt: moving the checkpoint back" >&2
	echo "$applied" > "$mnt/checkpoints/$name" || exit 1
fi

# The subscription is read through cat, which reads it in large pieces;
# bash's read, on a file it cannot seek, would ask for one byte at a time.
# When this script exits, so does its cat.
exec 3< <(exec cat "$mnt/subscriptions/$name")
reader=$!
trap 'kill "$reader" 2>/dev/null' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

while IFS= read -r line <&3; do
	# The fields it needs, tab-separated; the customer last, since it may be
	# empty. The amount in cents: OrderPlaced's total, ItemAdded's qty * price.
	IFS=$'\t' read -r pos type cents order who <<< "$(jq -r '
		[.global_position, .event_type,
		 ((if .event_type == "ItemAdded" then (.data.qty // 0) * (.data.price // 0)
		   else .data.total // 0 end) * 100 | round),
		 .stream_id, (.data.customer // "")] | @tsv' <<< "$line")"
	if [ -z "${pos:-}" ]; then
		echo "order-consumer: cannot read this event: $line" >&2
		exit 1
	fi

	if [ "$pos" -le "$applied" ]; then
		echo "order-consumer: $pos is applied already; skipped" >&2
	else
		apply "$type" "$cents" "$order" "$who"
		applied=$pos
		save || exit 1
	fi
	echo "$pos" > "$mnt/checkpoints/$name" || exit 1
done

# A subscription has no end: it ends when the mount goes away.
echo "order-consumer: the subscription ended at position $applied" >&2
exit 1
