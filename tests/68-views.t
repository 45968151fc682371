#!/bin/bash
# 68-views.t — categories/C/ and types/T/: the events of the streams named
# C-…, and the events of type T, named by global position like all/, in
# order, each the same inode as in all/ (so cp -a and rsync -aH keep one
# file per event); a stream without '-' is in no category; new events
# appear at once; nothing can be created or removed there.
. "$(dirname "$0")/lib.sh"

# add STREAM TYPE N: appends one event {"n":N} of type TYPE
add() {
	printf 'Expected-Version: any\nEvent-Type: %s\n\n{"n":%d}\n' "$2" "$3" > "$M/streams/$1/new"
}

# want FILTER: the padded positions of the events jq FILTER selects in all/
want() {
	cat "$M"/all/* | jq -r "select($1) | .global_position" | xargs -r printf '%020d\n'
}

mount_esfs || { ok 1 "esfs mounts"; done_testing; }

is "$(ls -A "$M/categories")" "" "categories/ of an empty store is empty"
is "$(ls -A "$M/types")" "" "types/ too"

mkdir "$M/streams/Order-1" "$M/streams/Order-2" "$M/streams/Cart-1" "$M/streams/Solo" \
	"$M/streams/-lead" "$M/streams/Order-x-y"
add Order-1 OrderPlaced 1 &&
add Cart-1 ItemAdded 2 &&
add Order-2 OrderPlaced 3 &&
add Solo Noted 4 &&
add Order-1 OrderShipped 5 &&
add -lead Noted 6 &&
printf 'Expected-Version: any\n\n[{"event_type":"ItemAdded","data":{"n":7}},{"event_type":"ItemRemoved","data":{"n":8}}]\n' \
	> "$M/streams/Cart-1/new" &&
add Order-x-y OrderPlaced 9
ok $? "nine events in six streams"
is "$(ls "$M/all" | wc -l)" 9 "... all there"

is "$(ls "$M/categories" | tr '\n' ' ')" "Cart Order " "categories/: Cart and Order (Solo and -lead are in none)"
is "$(ls "$M/types" | tr '\n' ' ')" "ItemAdded ItemRemoved Noted OrderPlaced OrderShipped " \
	"types/: one directory per event type"
is "$(ls "$M/categories/Order")" "$(want '.stream_id | startswith("Order-")')" \
	"categories/Order lists the events of Order-1, Order-2, Order-x-y by position"
is "$(ls "$M/categories/Cart")" "$(want '.stream_id | startswith("Cart-")')" "categories/Cart likewise"
is "$(ls "$M/types/OrderPlaced")" "$(want '.event_type == "OrderPlaced"')" "types/OrderPlaced lists its events"
is "$(ls "$M/types/Noted")" "$(want '.event_type == "Noted"')" "types/Noted, across streams and categories"
is "$(cat "$M"/categories/Order/*)" "$(grep -h '"stream_id":"Order-' "$M"/all/*)" \
	"cat categories/Order/* is those events' bytes, in order"
is "$(cat "$M"/types/ItemAdded/*)" "$(grep -h '"event_type":"ItemAdded"' "$M"/all/*)" \
	"cat types/ItemAdded/* likewise"
solo=$(want '.stream_id == "Solo"')
is "$(find "$M/categories" -name "$solo" | wc -l)" 0 "a stream without '-' is in no category"
lead=$(want '.stream_id == "-lead"')
is "$(find "$M/categories" -name "$lead" | wc -l)" 0 "nor is one that starts with '-'"

# One inode per event.
for p in 1 3 9; do
	n=$(printf '%020d' $p)
	is "$(stat -c '%i %h %s %Y %a' "$M/categories/Order/$n")" "$(stat -c '%i %h %s %Y %a' "$M/all/$n")" \
		"categories/Order/$n is all/$n: same inode, nlink, size, mtime, mode"
	is "$(stat -c %i "$M/types/OrderPlaced/$n")" "$(stat -c %i "$M/all/$n")" "types/OrderPlaced/$n too"
done
is "$(stat -c %h "$M/all/$(pad 1)")" 4 "an event in a category has 4 names: st_nlink 4"
is "$(stat -c %h "$M/all/$solo")" 3 "an event of a stream without '-' has 3: st_nlink 3"
is "$(stat -c %h "$M/all/$lead")" 3 "so has one of a stream that starts with '-'"
is "$(find "$M/all" -links 4 | wc -l)" "$(ls "$M/categories"/*/ | grep -c '^[0-9]')" \
	"find -links 4 finds exactly the events in a category"
is "$(cat "$M/categories/Order/3")" "$(cat "$M/all/$(pad 3)")" "the plain number finds the event"
is "$(try cat "$M/categories/Order/$(pad 2)")" "No such file or directory" "a position not in the view: ENOENT"
is "$(try cat "$M/types/Noted/$(pad 1)")" "No such file or directory" "... in types/ too"
is "$(try cat "$M/categories/Order/99")" "No such file or directory" "... and past the head"
is "$(try ls "$M/categories/Nope")" "No such file or directory" "a category that has no events: ENOENT"
is "$(try ls "$M/types/Nope")" "No such file or directory" "a type that has no events: ENOENT"
is "$(stat -c %Y "$M/categories/Order")" "$(stat -c %Y "$M/all/$(pad 9)")" \
	"a view's mtime is its newest event's time"
is "$(stat -c %i "$M/categories/Order/..")" "$(stat -c %i "$M/categories")" ".. of categories/Order is categories/"

# New events appear at once.
add Order-2 OrderShipped 10
ok $? "an append"
is "$(ls "$M/categories/Order" | tail -n 1)" "$(pad 10)" "... is listed in categories/Order at once"
is "$(ls "$M/types/OrderShipped" | tr '\n' ' ')" "$(pad 5) $(pad 10) " "... and in types/OrderShipped"
mkdir "$M/streams/Refund-1" && add Refund-1 RefundIssued 11
is "$(ls "$M/categories/Refund")" "$(pad 11)" "a new category appears with its first event"
is "$(ls "$M/types/RefundIssued")" "$(pad 11)" "... and a new type"

# A long listing resumes at the right place across readdir calls.
printf 'Expected-Version: any\n\n[' > "$T/batch"
for i in $(seq 1 1500); do
	[ "$i" -gt 1 ] && printf ',' >> "$T/batch"
	printf '{"event_type":"Bulk","data":{"i":%d}}' "$i" >> "$T/batch"
done
printf ']\n' >> "$T/batch"
mkdir "$M/streams/Big-1"
cat "$T/batch" > "$M/streams/Big-1/new"
ok $? "a batch of 1500 events"
is "$(ls "$M/categories/Big" | wc -l)" 1500 "categories/Big lists 1500 entries"
is "$(ls -f "$M/categories/Big" | grep -v '^\.' | awk 'NR > 1 && $1 <= last { print "out of order at " NR } { last = $1 }')" "" \
	"... in order, each once, in the order readdir gives them"
is "$(ls "$M/types/Bulk")" "$(ls "$M/categories/Big")" "types/Bulk is the same 1500"
is "$(find "$M/categories/Big" -type f | wc -l)" 1500 "find walks it"

# Nothing can be created or removed.
is "$(try touch "$M/categories/Order/x")" "Operation not permitted" "touch in a category: EPERM"
is "$(try mkdir "$M/categories/New")" "Operation not permitted" "mkdir in categories/: EPERM"
is "$(try mkdir "$M/types/New")" "Operation not permitted" "mkdir in types/: EPERM"
is "$(try touch "$M/types/x")" "Operation not permitted" "touch in types/: EPERM"
is "$(try rm "$M/categories/Order/$(pad 1)")" "Operation not permitted" "rm of an event in a category: EPERM"
is "$(try rmdir "$M/types/Noted")" "Operation not permitted" "rmdir of a type: EPERM"
is "$(try ln "$M/all/$(pad 2)" "$M/categories/Order/$(pad 2)")" "Operation not permitted" "ln: EPERM"
is "$(try mv "$M/categories/Cart" "$M/categories/Basket")" "Operation not permitted" "rename: EPERM"
is "$(try bash -c 'echo x > "$1"' _ "$M/categories/Order/$(pad 1)")" "Permission denied" \
	"writing an event through a category: EACCES"
is "$(cat "$M/all/$(pad 1)" | jq -r .data.n)" 1 "... and nothing changed"

# cp -a keeps one file per event: hard links across all/, categories/,
# types/ and streams/.
events=$(ls "$M/all" | wc -l)
cp -a "$M/." "$T/copy"
ok $? "cp -a of the mount"
for p in 1 9 11 20; do
	n=$(pad $p)
	c=$(ls -d "$T"/copy/categories/*/"$n" | head -n 1)
	t=$(ls -d "$T"/copy/types/*/"$n" | head -n 1)
	is "$(stat -c %i "$T/copy/all/$n" "$c" "$t" | sort -u | wc -l)" 1 \
		"event $p in the copy: one inode in all/, categories/, types/"
done
is "$(find "$T/copy/all" "$T/copy/categories" "$T/copy/types" "$T/copy/streams" -type f -name '0*' \
	-printf '%i\n' | sort -u | wc -l)" "$events" "the copy has $events event files, however many names"
is "$(du -a "$T/copy" | grep -c '/[0-9]\{20\}$')" "$events" "du of the copy counts each event once"
is "$(du -a "$M" | grep -c '/[0-9]\{20\}$')" "$events" "... as it does in the mount"
rsync -aH "$M/" "$T/rsync/"
ok $? "rsync -aH of the mount"
is "$(find "$T/rsync" -type f -name '0*' -printf '%i\n' | sort -u | wc -l)" "$events" \
	"... keeps one file per event too"
is "$(diff -r "$M/categories" "$T/copy/categories" && echo same)" same "diff -r finds nothing"

ino=$(stat -c %i "$M/categories/Order/$(pad 9)")
unmount_esfs
ok $? "unmounts cleanly"
mount_esfs -o ro
is "$(stat -c %i "$M/categories/Order/$(pad 9)")" "$ino" "after a remount read-only: the same inodes"
is "$(ls "$M/types/Bulk" | wc -l)" 1500 "... and the same views"
unmount_esfs
ok $? "unmounts cleanly"
done_testing
