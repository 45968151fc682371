-- pg-schema-1.sql — a test fixture: the PostgreSQL backend's schema as
-- version 1 made it (commit e6fa14e, store/pg/schema.sql), for
-- store-pg.c's test of the upgrade to the current version. Never edit.

-- schema.sql — the PostgreSQL backend's schema, version 1 (doc/pg.md).
-- store/pg/schema.c holds this text, and es_open runs it in one
-- transaction on a database that has no esfs_schema table yet.

CREATE TABLE esfs_schema (version integer NOT NULL);
INSERT INTO esfs_schema VALUES (1);

-- The counter: one row, locked (FOR UPDATE) by every append, so that
-- global positions are gapless and follow commit order on every host.
CREATE TABLE esfs_head (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	global_position bigint NOT NULL DEFAULT 0,	-- the last event's
	log_bytes bigint NOT NULL DEFAULT 0,		-- bytes of all envelopes
	created_us bigint NOT NULL DEFAULT 0		-- the last event's time
);
INSERT INTO esfs_head DEFAULT VALUES;

-- Ids of streams, views and checkpoints: never reused.
CREATE SEQUENCE esfs_ids;

CREATE TABLE streams (
	id bigint PRIMARY KEY,
	name text COLLATE "C" NOT NULL UNIQUE,
	version bigint NOT NULL DEFAULT 0,
	created_us bigint NOT NULL,
	updated_us bigint NOT NULL
);

-- Categories (kind 1) and event types (kind 2) that have events.
CREATE TABLE views (
	id bigint PRIMARY KEY,
	kind smallint NOT NULL,
	name text COLLATE "C" NOT NULL,
	last_position bigint NOT NULL,
	updated_us bigint NOT NULL,
	UNIQUE (kind, name)
);

-- The events: the seed design's columns, then what the contract needs.
-- event_data and metadata are json, as appended (compact): jsonb would
-- reorder keys and cannot hold \u0000; cast them to jsonb in a query.
-- envelope is the event file's exact bytes.
CREATE TABLE events (
	global_position bigint PRIMARY KEY,
	event_id uuid NOT NULL UNIQUE,
	stream_id text COLLATE "C" NOT NULL,	-- the stream's name
	stream_type text COLLATE "C" NOT NULL,	-- its category, '' for none
	event_type text COLLATE "C" NOT NULL,
	schema_version integer NOT NULL,
	event_data json NOT NULL,
	metadata json NOT NULL,
	version bigint NOT NULL,
	created_at timestamptz NOT NULL,
	stream bigint NOT NULL REFERENCES streams (id),
	category_view bigint REFERENCES views (id),
	type_view bigint NOT NULL REFERENCES views (id),
	created_us bigint NOT NULL,
	bytes_before bigint NOT NULL,		-- envelopes before this one
	envelope text NOT NULL,
	UNIQUE (stream, version)
);
CREATE INDEX events_category ON events (category_view, global_position)
	WHERE category_view IS NOT NULL;
CREATE INDEX events_type ON events (type_view, global_position);

CREATE TABLE snapshots (
	stream bigint PRIMARY KEY REFERENCES streams (id),
	stream_id text COLLATE "C" NOT NULL,
	version bigint NOT NULL,
	data json NOT NULL,
	created_at timestamptz NOT NULL,
	created_us bigint NOT NULL,
	line text NOT NULL			-- snapshots/S's exact bytes
);

CREATE TABLE subscription_checkpoints (
	id bigint PRIMARY KEY,
	name text COLLATE "C" NOT NULL UNIQUE,
	position bigint,			-- NULL: reserved, never written
	updated_at timestamptz,
	updated_us bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION esfs_time(us bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT to_char(timestamp 'epoch' + us * interval '1 microsecond',
		       'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- Upserts view (kind, name) to last_position at time us; its id. The
-- caller holds esfs_head's lock, so no other append races it.
CREATE FUNCTION esfs_view(p_kind smallint, p_name text, p_last bigint, p_us bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
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
CREATE FUNCTION esfs_append(p_stream text, p_expected bigint, p_category text,
	p_ids uuid[], p_given boolean[], p_types text[], p_prefix text[],
	p_schema integer[], p_data text[], p_meta text[], p_max_event bigint,
	OUT o_err text, OUT o_why text, OUT o_first_version bigint,
	OUT o_first_position bigint, OUT o_retry boolean)
LANGUAGE plpgsql AS $$
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
	SELECT * INTO st FROM streams WHERE name = p_stream;
	IF NOT FOUND THEN
		o_err := 'ENOENT';
		o_why := format('no stream %s', p_stream);
		RETURN;
	END IF;

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
	created := greatest(floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
			    h.created_us);
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
		cat := esfs_view(1::smallint, p_category, h.global_position + n, created);
	END IF;
	FOR i IN 1 .. n LOOP
		typ := esfs_view(2::smallint, p_types[i], h.global_position + i, created);
		INSERT INTO events VALUES (h.global_position + i, p_ids[i], p_stream,
			coalesce(p_category, ''), p_types[i], p_schema[i], p_data[i]::json,
			p_meta[i]::json, st.version + i,
			timestamp with time zone 'epoch' + created * interval '1 microsecond',
			st.id, cat, typ, created, h.log_bytes + total, envs[i]);
		total := total + octet_length(envs[i]);
	END LOOP;
	UPDATE streams SET version = version + n, updated_us = created WHERE id = st.id;
	UPDATE esfs_head SET global_position = global_position + n,
		log_bytes = log_bytes + total, created_us = created;
	PERFORM pg_notify('esfs', (h.global_position + n)::text);
	o_first_version := st.version + 1;
	o_first_position := h.global_position + 1;
END $$;

-- es_snapshot_put: the line as snapshots/S holds it, built here with the
-- server's time; p_quoted is the stream's name as a JSON string.
CREATE FUNCTION esfs_snapshot_put(p_stream text, p_quoted text, p_version bigint,
	p_data text, OUT o_err text, OUT o_why text)
LANGUAGE plpgsql AS $$
DECLARE
	st streams%ROWTYPE;
	created bigint := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
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
		timestamp with time zone 'epoch' + created * interval '1 microsecond', created,
		'{"stream_id":' || p_quoted || ',"version":' || p_version || ',"created_at":"' ||
		esfs_time(created) || '","data":' || p_data || E'}\n')
	ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version, data = EXCLUDED.data,
		created_at = EXCLUDED.created_at, created_us = EXCLUDED.created_us,
		line = EXCLUDED.line;
END $$;

-- es_checkpoint_put: at most the head; made when missing.
CREATE FUNCTION esfs_checkpoint_put(p_name text, p_position bigint,
	OUT o_err text, OUT o_why text)
LANGUAGE plpgsql AS $$
DECLARE
	head bigint;
	now_us bigint := floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
BEGIN
	SELECT global_position INTO head FROM esfs_head;
	IF p_position > head THEN
		o_err := 'EINVAL';
		o_why := format('checkpoint position %s is beyond the last global position, %s',
				p_position, head);
		RETURN;
	END IF;
	UPDATE subscription_checkpoints SET position = p_position,
		updated_at = timestamp with time zone 'epoch' + now_us * interval '1 microsecond',
		updated_us = now_us
		WHERE name = p_name;
	IF NOT FOUND THEN	-- (an id is taken only for a new name)
		INSERT INTO subscription_checkpoints VALUES (nextval('esfs_ids'), p_name, p_position,
			timestamp with time zone 'epoch' + now_us * interval '1 microsecond', now_us)
		ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position,
			updated_at = EXCLUDED.updated_at, updated_us = EXCLUDED.updated_us;
	END IF;
END $$;
