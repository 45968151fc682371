#!/usr/bin/awk -f
# order-totals.awk — order totals per customer or per day, in plain awk.
#
# A projection: it reads esfs events (one JSON envelope per line, as
# all/N, streams/S/N and feed/N hold them) and folds them into totals.
# Nothing is kept between runs: each run reads the events it is given.
#
#   ./order-totals.awk < feed/0                       # the whole log
#   ./order-totals.awk by=day < feed/0                # per day instead
#   ./order-totals.awk streams/Order-abc123/0*        # one order's stream
#   cat categories/Order/* | ./order-totals.awk       # the Order category
#   ./order-totals.awk streams/Order-*/0*             # every Order stream
#                                                     # (one stream's events
#                                                     # stay in order)
#   awk -f order-totals.awk by=day < feed/0           # if not executable
#
# (Run it in the mount, or give paths into it. `cat all/*` also works, but
# a glob of a long log is too long an argument list; feed/0 is not.)
#
# The events it knows (anything else passes by):
#
#   OrderPlaced     {"customer":"alice","total":21.5,"items":[…]}
#   ItemAdded       {"sku":"B-2","qty":2,"price":3.25}   adds qty * price
#   OrderCancelled  {"reason":"…"}                       the order counts no more
#
# An order is its stream (Order-abc123): ItemAdded and OrderCancelled name no
# customer, so the script remembers each order's customer and amount from the
# events before. Events of an order it has not seen placed are ignored, and so
# is anything after a cancellation.
#
# Output, sorted, one line per key, amounts with two decimals:
#
#   by=customer (the default):  CUSTOMER ORDERS TOTAL
#       the orders placed and not cancelled, and their amount
#   by=day:                     DAY PLACED CANCELLED NET
#       per UTC day of the events (created_at): the orders placed that day,
#       those cancelled that day, and the amount booked that day (placed and
#       added, less what cancelled orders had come to)
#
# Parsing JSON in awk: esfs writes every envelope as compact JSON with its
# keys in a fixed order, and `data` is the object that was appended, with
# whitespace removed. jsplit() below splits one object into its members, which
# is all this needs; it handles nesting, strings with escapes and any key
# order. jstr() unquotes a string value; \uXXXX escapes are left as written.
# Amounts are awk numbers (floating point); printf rounds them to cents.

# jsplit(json, m): splits the top-level members of the JSON object text json
# into m: m[key] = the raw text of its value (a string keeps its quotes, an
# object its braces). Returns the number of members.
function jsplit(json, m,    rest, tok, depth, state, key, val, n) {
	split("", m)
	rest = json; depth = 0; state = 0; n = 0
	# One token at a time: a string, a punctuation mark, or a bare word
	# (number, true, false, null).
	while (match(rest, /^[ \t\r\n]*("([^"\\]|\\.)*"|[][{}:,]|[^][{}:," \t\r\n]+)/)) {
		tok = substr(rest, 1, RLENGTH)
		rest = substr(rest, RLENGTH + 1)
		sub(/^[ \t\r\n]+/, "", tok)
		if (depth == 0) {			# before the object
			if (tok != "{") return n
			depth = 1; state = 1; continue
		}
		if (depth == 1 && (tok == "," || tok == "}")) {	# end of a member
			if (state == 3) { m[key] = val; n++ }
			if (tok == "}") return n
			state = 1; val = ""; continue
		}
		if (state == 1) { key = jstr(tok); state = 2; continue }	# key
		if (state == 2) { state = 3; val = ""; continue }		# ':'
		val = val tok						# value
		if (tok == "{" || tok == "[") depth++
		else if (tok == "}" || tok == "]") depth--
	}
	return n
}

# jstr(v): the text of the JSON string v, unquoted and unescaped (but for
# \uXXXX); a value that is not a string comes back as it is.
function jstr(v,    out, i, c) {
	if (v !~ /^"/) return v
	v = substr(v, 2, length(v) - 2)
	if (index(v, "\\") == 0) return v
	out = ""
	while ((i = index(v, "\\")) > 0) {
		out = out substr(v, 1, i - 1)
		c = substr(v, i + 1, 1)
		if (c == "n") c = "\n"
		else if (c == "t") c = "\t"
		else if (c == "r") c = "\r"
		else if (c == "b") c = "\b"
		else if (c == "f") c = "\f"
		else if (c == "u") c = "\\u"
		out = out c
		v = substr(v, i + 2)
	}
	return out v
}

# money(x): x with two decimals (and never "-0.00").
function money(x) {
	x = sprintf("%.2f", x)
	return x == "-0.00" ? "0.00" : x
}

# Each event: split the envelope, then its data.
/^\{/ {
	jsplit($0, ev)
	type = jstr(ev["event_type"])
	order = jstr(ev["stream_id"])
	day = substr(jstr(ev["created_at"]), 1, 10)
	jsplit(ev["data"], data)

	if (type == "OrderPlaced") {
		if (order in customer) next		# placed twice: once counts
		customer[order] = jstr(data["customer"])
		amount[order] = data["total"] + 0
		orders[customer[order]]++
		total[customer[order]] += amount[order]
		placed[day]++
		net[day] += amount[order]
	} else if (type == "ItemAdded") {
		if (!(order in customer) || (order in cancelled)) next
		a = data["qty"] * data["price"]
		amount[order] += a
		total[customer[order]] += a
		net[day] += a
	} else if (type == "OrderCancelled") {
		if (!(order in customer) || (order in cancelled)) next
		cancelled[order] = 1
		orders[customer[order]]--
		total[customer[order]] -= amount[order]
		ncancelled[day]++
		net[day] -= amount[order]
	}
}

END {
	sort = "LC_ALL=C sort"
	if (by == "" || by == "customer") {
		for (c in total)
			printf "%s %d %s\n", c, orders[c], money(total[c]) | sort
	} else if (by == "day") {
		for (d in net)
			printf "%s %d %d %s\n", d, placed[d], ncancelled[d], money(net[d]) | sort
	} else {
		print "order-totals.awk: by=customer or by=day, not by=" by > "/dev/stderr"
		exit 2
	}
	close(sort)
}
