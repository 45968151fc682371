-- schema.sql — the PostgreSQL backend's tables, schema version 3
-- (doc/pg.md). es_open runs this text (made into schema.c by the Makefile),
-- then functions.sql, in one transaction on a database that has no
-- esfs_schema table yet; conn.c upgrades an older version's tables.

CREATE TABLE esfs_schema (version integer NOT NULL);
INSERT INTO esfs_schema VALUES (3);

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
-- envelope is the event file's exact bytes. stream, category_view and
-- type_view name rows of streams and views, which esfs_append (under the
-- head's lock, the stream's row locked) finds or makes first; a view is
-- never removed, a stream only while it has no events. They are not
-- foreign keys, whose checks cost a quarter of an append; esfsctl verify
-- checks them.
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
	stream bigint NOT NULL,			-- streams (id)
	category_view bigint,			-- views (id)
	type_view bigint NOT NULL,		-- views (id)
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
