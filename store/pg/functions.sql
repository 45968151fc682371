-- functions.sql — the PostgreSQL backend's functions (doc/pg.md): what
-- an append, a snapshot and a checkpoint do on the server. es_open runs
-- this text (made into functions.c by the Makefile) after schema.sql on a
-- new store, and again, under the same lock, on a store of an older
-- schema version, so that each is CREATE OR REPLACE.

-- Every time the store keeps is the server's clock, in microseconds
-- since the epoch (one clock for all hosts); esfs_at makes one a
-- timestamptz, for the seed design's columns, and esfs_time the text
-- of an envelope's created_at.
CREATE OR REPLACE FUNCTION esfs_now() RETURNS bigint
LANGUAGE sql VOLATILE AS $$
	SELECT floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint
$$;

CREATE OR REPLACE FUNCTION esfs_at(us bigint) RETURNS timestamptz
LANGUAGE sql STABLE AS $$
	SELECT timestamp with time zone 'epoch' + us * interval '1 microsecond'
$$;

CREATE OR REPLACE FUNCTION esfs_time(us bigint) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT to_char(timestamp 'epoch' + us * interval '1 microsecond',
		       'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Upserts view (kind, name) to last_position at time us; its id. The
-- caller holds esfs_head's lock, so no other append races it.
-- (esfs_append updates a view that exists itself, and calls this only to
-- make one: a call costs as much as the UPDATE. With the stream's and the
-- head's updates in one statement, pgbench ran 4.1k appends/s before and
-- 4.9k after, synchronous_commit off, four runs each.)
CREATE OR REPLACE FUNCTION esfs_view(p_kind smallint, p_name text, p_last bigint, p_us bigint)
RETURNS bigint LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	v bigint;
BEGIN
	UPDATE views SET last_position = p_last, updated_us = p_us
		WHERE kind = p_kind AND name = p_name RETURNING id INTO v;
	IF NOT FOUND THEN
		INSERT INTO views VALUES (nextval('esfs_ids'), p_kind, p_name, p_last, p_us)
			RETURNING id INTO v;
	END IF;
	RETURN v;
END $$;

-- One append, as es_append (store.h) says: a retry by event ids first,
-- then the expected version (-1: any). The envelopes are built here, since
-- their versions, positions and time are known only under the lock:
-- p_prefix[i] is '{"event_id":"…","stream_id":…,"event_type":…,"version":'
-- as the client quoted it. Nothing is written unless all of it is; a
-- failure is returned (o_err an errno's name, o_why the reason), never
-- raised, so that the other appends of a group commit stand.
CREATE OR REPLACE FUNCTION esfs_append(p_stream text, p_expected bigint, p_category text,
	p_ids uuid[], p_given boolean[], p_types text[], p_prefix text[],
	p_schema integer[], p_data text[], p_meta text[], p_max_event bigint,
	OUT o_err text, OUT o_why text, OUT o_first_version bigint,
	OUT o_first_position bigint, OUT o_retry boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	h esfs_head%ROWTYPE;
	st streams%ROWTYPE;
	n integer := cardinality(p_ids);
	found_n integer;
	first record;
	in_order boolean;
	clash record;
	created bigint;
	stamp text;
	envs text[] := '{}';
	total bigint := 0;
	cat bigint;
	typ bigint;
BEGIN
	o_retry := false;
	SELECT * INTO h FROM esfs_head FOR UPDATE;
	-- (Locked too: a stream is removed, without the head's lock, only
	-- while it has no events, and its DELETE must not pass this append.)
	SELECT * INTO st FROM streams WHERE name = p_stream FOR NO KEY UPDATE;
	IF NOT FOUND THEN
		o_err := 'ENOENT';
		o_why := format('no stream %s', p_stream);
		RETURN;
	END IF;

	IF NOT (true = ANY(p_given)) THEN	-- (no id was given: none to look up)
		found_n := 0;
	ELSE
		SELECT g.id, e.stream_id, e.version INTO clash
			FROM unnest(p_ids, p_given) WITH ORDINALITY AS g(id, given, ord)
			JOIN events e ON e.event_id = g.id
			WHERE g.given AND e.stream <> st.id ORDER BY g.ord LIMIT 1;
		IF FOUND THEN
			o_err := 'EEXIST';
			o_why := format('event id %s is already stored in stream %s at version %s',
					clash.id, clash.stream_id, clash.version);
			RETURN;
		END IF;
		SELECT count(*) INTO found_n FROM unnest(p_ids, p_given) AS g(id, given)
			JOIN events e ON e.event_id = g.id WHERE g.given;
	END IF;
	IF found_n > 0 THEN
		SELECT g.id, e.version, e.global_position INTO first
			FROM unnest(p_ids, p_given) WITH ORDINALITY AS g(id, given, ord)
			JOIN events e ON e.event_id = g.id WHERE g.given ORDER BY g.ord LIMIT 1;
		SELECT coalesce(bool_and(v = prev + 1), true) INTO in_order FROM (
			SELECT e.version AS v, lag(e.version) OVER (ORDER BY g.ord) AS prev
			FROM unnest(p_ids, p_given) WITH ORDINALITY AS g(id, given, ord)
			JOIN events e ON e.event_id = g.id WHERE g.given) o
			WHERE prev IS NOT NULL;
		IF found_n < n OR NOT in_order THEN
			o_err := 'EEXIST';
			o_why := format('stream %s: %s of the %s events are already stored (event id %s at version %s)%s',
					p_stream, found_n, n, first.id, first.version,
					CASE WHEN in_order THEN '' ELSE ', in another order' END);
			RETURN;
		END IF;
		o_first_version := first.version;
		o_first_position := first.global_position;
		o_retry := true;
		RETURN;
	END IF;

	IF p_expected <> -1 AND p_expected <> st.version THEN
		o_err := 'EEXIST';
		o_why := format('wrong expected version: stream %s, expected %s, actual %s',
				p_stream, p_expected, st.version);
		RETURN;
	END IF;
	IF h.global_position + n > 72057594037927935 OR st.version + n > 72057594037927935 THEN
		o_err := 'ENOSPC';
		o_why := 'no positions left';
		RETURN;
	END IF;
	created := greatest(esfs_now(), h.created_us);
	stamp := esfs_time(created);
	FOR i IN 1 .. n LOOP
		envs[i] := p_prefix[i] || (st.version + i) || ',"schema_version":' || p_schema[i] ||
			   ',"data":' || p_data[i] || ',"metadata":' || p_meta[i] ||
			   ',"global_position":' || (h.global_position + i) ||
			   ',"created_at":"' || stamp || E'"}\n';
		IF octet_length(envs[i]) > p_max_event THEN
			o_err := 'EFBIG';
			o_why := format('event %s is %s bytes, over the limit of %s',
					i, octet_length(envs[i]), p_max_event);
			RETURN;
		END IF;
	END LOOP;

	IF p_category IS NOT NULL THEN
		UPDATE views SET last_position = h.global_position + n, updated_us = created
			WHERE kind = 1 AND name = p_category RETURNING id INTO cat;
		IF NOT FOUND THEN
			cat := esfs_view(1::smallint, p_category, h.global_position + n, created);
		END IF;
	END IF;
	FOR i IN 1 .. n LOOP
		UPDATE views SET last_position = h.global_position + i, updated_us = created
			WHERE kind = 2 AND name = p_types[i] RETURNING id INTO typ;
		IF NOT FOUND THEN
			typ := esfs_view(2::smallint, p_types[i], h.global_position + i, created);
		END IF;
		INSERT INTO events VALUES (h.global_position + i, p_ids[i], p_stream,
			coalesce(p_category, ''), p_types[i], p_schema[i], p_data[i]::json,
			p_meta[i]::json, st.version + i,
			esfs_at(created), st.id, cat, typ, created, h.log_bytes + total, envs[i]);
		total := total + octet_length(envs[i]);
	END LOOP;
	WITH s AS (UPDATE streams SET version = version + n, updated_us = created WHERE id = st.id)
	UPDATE esfs_head SET global_position = global_position + n,
		log_bytes = log_bytes + total, created_us = created;
	-- (One payload for all: PostgreSQL then delivers a transaction's
	-- notifications, a group commit's many appends, as one.)
	PERFORM pg_notify('esfs', '');
	o_first_version := st.version + 1;
	o_first_position := h.global_position + 1;
END $$;

-- es_snapshot_put: the line as snapshots/S holds it, built here with the
-- server's time; p_quoted is the stream's name as a JSON string.
CREATE OR REPLACE FUNCTION esfs_snapshot_put(p_stream text, p_quoted text, p_version bigint,
	p_data text, OUT o_err text, OUT o_why text)
LANGUAGE plpgsql AS $$
DECLARE
	st streams%ROWTYPE;
	created bigint := esfs_now();
BEGIN
	SELECT * INTO st FROM streams WHERE name = p_stream;
	IF NOT FOUND THEN
		o_err := 'ENOENT';
		o_why := format('no stream %s', p_stream);
		RETURN;
	END IF;
	IF p_version < 1 OR p_version > st.version THEN
		o_err := 'EINVAL';
		o_why := format('snapshot version %s is outside 1 … %s, the versions of stream %s',
				p_version, st.version, p_stream);
		RETURN;
	END IF;
	INSERT INTO snapshots VALUES (st.id, p_stream, p_version, p_data::json,
		esfs_at(created), created,
		'{"stream_id":' || p_quoted || ',"version":' || p_version || ',"created_at":"' ||
		esfs_time(created) || '","data":' || p_data || E'}\n')
	ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data,
		created_at = EXCLUDED.created_at, created_us = EXCLUDED.created_us,
		line = EXCLUDED.line;
END $$;

-- es_checkpoint_put: at most the head; made when missing.
CREATE OR REPLACE FUNCTION esfs_checkpoint_put(p_name text, p_position bigint,
	OUT o_err text, OUT o_why text)
LANGUAGE plpgsql AS $$
DECLARE
	head bigint;
	now_us bigint := esfs_now();
BEGIN
	SELECT global_position INTO head FROM esfs_head;
	IF p_position > head THEN
		o_err := 'EINVAL';
		o_why := format('checkpoint position %s is beyond the last global position, %s',
				p_position, head);
		RETURN;
	END IF;
	UPDATE subscription_checkpoints SET position = p_position,
		updated_at = esfs_at(now_us),
		updated_us = now_us
		WHERE name = p_name;
	IF NOT FOUND THEN	-- (an id is taken only for a new name)
		INSERT INTO subscription_checkpoints VALUES (nextval('esfs_ids'), p_name, p_position,
			esfs_at(now_us), now_us)
		ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position,
			updated_at = EXCLUDED.updated_at, updated_us = EXCLUDED.updated_us;
	END IF;
END $$;
