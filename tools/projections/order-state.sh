#!/bin/bash
# order-state.sh — a read model built with jq: the current state of every
# order, folded from its events into one JSON document outside the mount,
# continued from where the last run stopped.
#
#   order-state.sh MOUNTPOINT OUTDIR [NAME]
#
#   order-state.sh ~/esfs ~/orders          # writes ~/orders/orders.json
#   jq '.orders["Order-abc123"]' ~/orders/orders.json
#   cat ~/esfs/checkpoints/order-state      # how far it has read
#
# Run it as often as you like (by hand, from cron, after a deploy): each run
# reads only the events committed since the last one, through
# feed/$(cat checkpoints/NAME), folds them into the document, replaces the
# document atomically, and then moves checkpoints/NAME (NAME defaults to
# order-state). To rebuild from scratch, delete OUTDIR/orders.json: a
# missing document starts again from position 0, whatever the checkpoint
# says.
#
# The document:
#
#   {"position": 42,                  the last event folded in
#    "orders": {
#      "Order-abc123": {"customer": "alice", "status": "shipped",
#                       "items": [{"sku": "A-1", "qty": 2, "price": 10.5}],
#                       "total": 21, "carrier": "DHL", "version": 3}}}
#
# The events it knows, by type, in any stream (the order is the stream):
#
#   OrderPlaced     {"customer":…, "items":[{"sku","qty","price"}…], "total":…}
#   ItemAdded       {"sku","qty","price"}  appended to items, added to total
#   OrderShipped    {"carrier":…}         status "shipped"
#   OrderCancelled  {"reason":…}          status "cancelled"
#
# Crash safety. The document and the checkpoint are two writes, and the
# process can die between them. The document is the truth: it carries the
# position of the last event in it, and the fold skips any event at or before
# that position. So after a crash between the two writes, the next run reads
# a few events again from the older checkpoint and skips them: nothing is
# applied twice. If the document is older than the checkpoint (restored from
# a backup, or deleted), the run starts from the document's position
# instead: nothing is missed. The document is written to a temporary file in
# OUTDIR and renamed over the old one, so a reader (or a crash) sees the old
# document or the new one, never half of one.
#
# Needs bash, jq and coreutils. jq holds the whole document in memory while
# it streams the new events past it.
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	echo "usage: order-state.sh MOUNTPOINT OUTDIR [NAME]" >&2
	exit 2
fi
mnt=$1
out=$2
name=${3:-order-state}
doc=$out/orders.json
mkdir -p "$out"
# A temporary file of this run's own in OUTDIR (the same filesystem, so
# that mv is an atomic rename), removed if the run fails.
tmp=$out/.orders.json.$$
trap 'rm -f "$tmp"' EXIT

# Where the document stands (0 when there is none yet) ...
if [ -s "$doc" ]; then
	have=$(jq -e '.position' "$doc")
else
	have=0
	echo '{"position": 0, "orders": {}}' > "$tmp"
	mv -f "$tmp" "$doc"
fi

# ... and where the checkpoint says to start reading (0 when there is none).
if [ -e "$mnt/checkpoints/$name" ]; then
	from=$(cat "$mnt/checkpoints/$name")
else
	from=0
fi
# Whichever is behind wins: a document older than the checkpoint has not
# seen the events in between.
if [ "$have" -lt "$from" ]; then
	from=$have
fi

# The fold: the old document, then every event after $from, one at a time
# (reduce over `inputs` streams them; the log is never held in memory).
# money rounds to cents, so that 0.1 + 0.2 is 0.3.
jq -n --slurpfile old "$doc" '
  def money: . * 100 | round / 100;
  def apply($e):
    ($e.stream_id) as $s
    | if $e.event_type == "OrderPlaced" then
        .orders[$s] = {
          customer: $e.data.customer,
          status: "placed",
          items: ($e.data.items // []),
          total: ($e.data.total // 0 | money)
        }
      elif .orders[$s] == null then .            # not an order we know
      elif $e.event_type == "ItemAdded" then
        .orders[$s].items += [$e.data]
        | .orders[$s].total = (.orders[$s].total + $e.data.qty * $e.data.price | money)
      elif $e.event_type == "OrderShipped" then
        .orders[$s].status = "shipped"
        | .orders[$s].carrier = $e.data.carrier
      elif $e.event_type == "OrderCancelled" then
        .orders[$s].status = "cancelled"
        | .orders[$s].reason = $e.data.reason
      else . end
    | if .orders[$s] != null then .orders[$s].version = $e.version else . end;

  reduce inputs as $e ($old[0];
    if $e.global_position <= .position then .     # folded in already
    else apply($e) | .position = $e.global_position end)
' < "$mnt/feed/$from" > "$tmp"

# First the document, then the checkpoint (see "Crash safety" above).
mv -f "$tmp" "$doc"
now=$(jq '.position' "$doc")
if [ ! -e "$mnt/checkpoints/$name" ] || [ "$now" != "$(cat "$mnt/checkpoints/$name")" ]; then
	echo "$now" > "$mnt/checkpoints/$name"
fi
