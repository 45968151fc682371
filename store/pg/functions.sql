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

-- An event's envelope, its file's exact bytes: p_prefix is
-- '{"event_id":"…","stream_id":…,"event_type":…,"version":' as the client
-- quoted it; the rest is known only under the head's lock. (STABLE, as
-- text || bigint is: declared IMMUTABLE it would not be inlined, and each
-- use would be a call of its own.)
CREATE OR REPLACE FUNCTION esfs_envelope(p_prefix text, p_version bigint, p_schema text,
	p_data text, p_meta text, p_position bigint, p_stamp text) RETURNS text
LANGUAGE sql STABLE AS $$
	SELECT p_prefix || p_version || ',"schema_version":' || p_schema || ',"data":' || p_data ||
		',"metadata":' || p_meta || ',"global_position":' || p_position ||
		',"created_at":"' || p_stamp || E'"}\n'
$$;

-- The outcome of an append some of whose given event ids are stored
-- already (esfs_append finds them): the retry it is, with the versions
-- and positions the events have (o_retry), or EEXIST with the reason.
CREATE OR REPLACE FUNCTION esfs_stored(p_stream text, p_sid bigint, p_ids uuid[], p_given boolean[],
	OUT o_err text, OUT o_why text, OUT o_first_version bigint,
	OUT o_first_position bigint, OUT o_retry boolean)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
	n integer := cardinality(p_ids);
	found_n integer;
	first record;
	in_order boolean;
	clash record;
BEGIN
	o_retry := false;
	SELECT g.id, e.stream_id, e.version INTO clash
		FROM unnest(p_ids, p_given) WITH ORDINALITY AS g(id, given, ord)
		JOIN events e ON e.event_id = g.id
		WHERE g.given AND e.stream <> p_sid ORDER BY g.ord LIMIT 1;
	IF FOUND THEN
		o_err := 'EEXIST';
		o_why := format('event id %s is already stored in stream %s at version %s',
				clash.id, clash.stream_id, clash.version);
		RETURN;
	END IF;
	SELECT count(*) INTO found_n FROM unnest(p_ids, p_given) AS g(id, given)
		JOIN events e ON e.event_id = g.id WHERE g.given;
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
END $$;

-- Makes view (kind, name), at time us, with no event yet (esfs_append,
-- under the head's lock, gives it its last position in the same
-- transaction); its id.
CREATE OR REPLACE FUNCTION esfs_view(p_kind smallint, p_name text, p_us bigint)
RETURNS bigint LANGUAGE sql VOLATILE AS $$
	INSERT INTO views VALUES (nextval('esfs_ids'), p_kind, p_name, 0, p_us) RETURNING id
$$;

-- The appends of a group commit (group.c), in one call, one row each in
-- order, each as es_append (store.h) says: a retry by event ids first,
-- then the expected version (-1: any). Per append: p_streams, p_expected,
-- p_counts (its events); per event, in the appends' order: p_stream and
-- p_category (its append's), then what it is. A failure is returned (o_err
-- an errno's name, o_why the reason), never raised, so that the other
-- appends stand, and nothing of the failed one is written; 'AGAIN': it
-- gives an id that an append before it in the group also gives, and is
-- the caller's to run alone, after. The head is read once, the group's
-- streams and views once, and what is taken is written in one statement, so that a group costs the server little more than one
-- append. (Index scans and nested loops only: a plan that reads a whole
-- table, as a generic plan may choose for a small one, would make an
-- append cost more as the store grows; and jit off, which a disabled
-- scan's cost would otherwise call for.)
CREATE OR REPLACE FUNCTION esfs_append(p_streams text[], p_expected bigint[],
	p_counts integer[], p_stream text[], p_category text[], p_ids uuid[], p_given boolean[],
	p_types text[], p_prefix text[], p_schema integer[], p_data text[], p_meta text[],
	p_max_event bigint,
	OUT o_err text, OUT o_why text, OUT o_first_version bigint,
	OUT o_first_position bigint, OUT o_retry boolean)
RETURNS SETOF record LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS $$
DECLARE
	h esfs_head%ROWTYPE;
	names text[];		-- the group's streams (locked): names, ids, versions
	sids bigint[];
	vers bigint[];
	vers0 bigint[];		-- (their versions before the group)
	vkeys text[];		-- the group's views, '1:' || category, '2:' || type,
	vids bigint[];		-- their ids, and the last positions the group
	vlast bigint[] := '{}';	-- gives them
	stored integer[];	-- the events whose given id is stored already
	seen uuid[] := '{}';	-- the ids of the appends taken so far
	any_given boolean := true = ANY (p_given);
	-- Per event: its position (NULL: not taken), version, stream's and
	-- views' ids, envelope and the bytes of all envelopes before it.
	e_pos bigint[] := array_fill(NULL::bigint, ARRAY[cardinality(p_ids)]);
	e_ver bigint[] := e_pos;
	e_sid bigint[] := e_pos;
	e_cv bigint[] := e_pos;
	e_tv bigint[] := e_pos;
	e_before bigint[] := e_pos;
	e_env text[] := array_fill(NULL::text, ARRAY[cardinality(p_ids)]);
	bytes bigint;
	v_pos bigint;
	v_off integer := 0;
	si integer;
	n integer;
	i integer;
	ci integer;
	ti integer;
	created bigint;
	stamp text;
	notified text;		-- (pg_notify's void)
BEGIN
	SELECT * INTO h FROM esfs_head FOR UPDATE;
	SELECT s.names, s.sids, s.vers, v.keys, v.ids INTO names, sids, vers, vkeys, vids
		FROM (SELECT array_agg(name) AS names, array_agg(id) AS sids,
			     array_agg(version) AS vers
		      FROM (SELECT name, id, version FROM streams WHERE name = ANY (p_streams)
			    FOR NO KEY UPDATE) l) s,
		     (SELECT array_agg(kind || ':' || name) AS keys, array_agg(id) AS ids FROM views
		      WHERE (kind = 1 AND name = ANY (p_category)) OR
			    (kind = 2 AND name = ANY (p_types))) v;
	vers0 := vers;
	IF any_given THEN
		SELECT array_agg(g.ord) INTO stored
			FROM unnest(p_ids, p_given) WITH ORDINALITY AS g(id, given, ord)
			JOIN events e ON e.event_id = g.id WHERE g.given;
	END IF;
	created := greatest(esfs_now(), h.created_us);
	stamp := esfs_time(created);
	v_pos := h.global_position;
	bytes := h.log_bytes;
	FOR a IN 1 .. cardinality(p_streams) LOOP
		n := p_counts[a];
		o_err := NULL;
		o_why := NULL;
		o_first_version := NULL;
		o_first_position := NULL;
		o_retry := false;
		si := array_position(names, p_streams[a]);
		IF si IS NULL THEN
			o_err := 'ENOENT';
			o_why := format('no stream %s', p_streams[a]);
		ELSIF any_given AND p_ids[v_off + 1 : v_off + n] && seen THEN
			o_err := 'AGAIN';
		ELSIF stored IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(stored) x
						     WHERE x > v_off AND x <= v_off + n) THEN
			SELECT * INTO o_err, o_why, o_first_version, o_first_position, o_retry
				FROM esfs_stored(p_streams[a], sids[si], p_ids[v_off + 1 : v_off + n],
						 p_given[v_off + 1 : v_off + n]);
		ELSIF p_expected[a] <> -1 AND p_expected[a] <> vers[si] THEN
			o_err := 'EEXIST';
			o_why := format('wrong expected version: stream %s, expected %s, actual %s',
					p_streams[a], p_expected[a], vers[si]);
		ELSIF v_pos + n > 72057594037927935 OR vers[si] + n > 72057594037927935 THEN
			o_err := 'ENOSPC';
			o_why := 'no positions left';
		ELSE
			FOR k IN 1 .. n LOOP
				i := v_off + k;
				e_env[i] := esfs_envelope(p_prefix[i], vers[si] + k, p_schema[i]::text,
							  p_data[i], p_meta[i], v_pos + k, stamp);
				IF octet_length(e_env[i]) > p_max_event THEN
					o_err := 'EFBIG';
					o_why := format('event %s is %s bytes, over the limit of %s',
							k, octet_length(e_env[i]), p_max_event);
					EXIT;
				END IF;
			END LOOP;
		END IF;
		IF o_err IS NULL AND NOT o_retry THEN	-- taken
			ci := NULL;
			IF p_category[v_off + 1] IS NOT NULL THEN
				ci := array_position(vkeys, '1:' || p_category[v_off + 1]);
				IF ci IS NULL THEN
					vkeys := vkeys || ('1:' || p_category[v_off + 1]);
					vids := vids || esfs_view(1::smallint, p_category[v_off + 1], created);
					ci := cardinality(vkeys);
				END IF;
				vlast[ci] := v_pos + n;
			END IF;
			FOR k IN 1 .. n LOOP
				i := v_off + k;
				e_pos[i] := v_pos + k;
				e_ver[i] := vers[si] + k;
				e_sid[i] := sids[si];
				e_cv[i] := vids[ci];
				ti := array_position(vkeys, '2:' || p_types[i]);
				IF ti IS NULL THEN
					vkeys := vkeys || ('2:' || p_types[i]);
					vids := vids || esfs_view(2::smallint, p_types[i], created);
					ti := cardinality(vkeys);
				END IF;
				e_tv[i] := vids[ti];
				vlast[ti] := v_pos + k;
				e_before[i] := bytes;
				bytes := bytes + octet_length(e_env[i]);
			END LOOP;
			o_first_version := vers[si] + 1;
			o_first_position := v_pos + 1;
			vers[si] := vers[si] + n;
			v_pos := v_pos + n;
			IF any_given THEN
				seen := seen || p_ids[v_off + 1 : v_off + n];
			END IF;
		END IF;
		v_off := v_off + n;
		RETURN NEXT;
	END LOOP;
	IF v_off <> cardinality(p_ids) OR v_off <> cardinality(p_stream) OR
	   v_off <> cardinality(p_category) OR v_off <> cardinality(p_given) OR
	   v_off <> cardinality(p_types) OR v_off <> cardinality(p_prefix) OR
	   v_off <> cardinality(p_schema) OR v_off <> cardinality(p_data) OR
	   v_off <> cardinality(p_meta) THEN
		RAISE 'esfs_append: % events counted, arrays of other lengths', v_off;
	END IF;
	IF v_pos = h.global_position THEN
		RETURN;
	END IF;
	WITH put AS (
		INSERT INTO events SELECT e.pos, e.id, e.stream, coalesce(e.cat, ''), e.typ, e.schema,
			e.data::json, e.meta::json, e.ver, esfs_at(created), e.sid, e.cv, e.tv,
			created, e.before, e.env
		FROM unnest(e_pos, p_ids, p_stream, p_category, p_types, p_schema, p_data, p_meta,
			    e_ver, e_sid, e_cv, e_tv, e_before, e_env)
			AS e(pos, id, stream, cat, typ, schema, data, meta, ver, sid, cv, tv, before, env)
		WHERE e.pos IS NOT NULL),
	st AS (
		UPDATE streams s SET version = u.v, updated_us = created
		FROM unnest(sids, vers, vers0) AS u(id, v, v0) WHERE s.id = u.id AND u.v <> u.v0),
	vw AS (
		UPDATE views v SET last_position = u.last, updated_us = created
		FROM unnest(vids, vlast) AS u(id, last) WHERE v.id = u.id AND u.last IS NOT NULL),
	hd AS (
		UPDATE esfs_head SET global_position = v_pos, log_bytes = bytes, created_us = created
		RETURNING 1)
	SELECT pg_notify('esfs', '') INTO notified FROM hd;	-- (no statement more)
	RETURN;
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
