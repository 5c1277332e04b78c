-- Migration 1: everything gridbot keeps.
--
-- Facts are append-only: rows are inserted, never updated or deleted.
-- Every fact row takes its seq from the one sequence fact_seq, so the
-- history of every chat and report is totally ordered; reads fold the
-- facts, highest seq wins.
--
-- Conventions:
--   * home_chat is the chat's first id (see chat_home below); chat is the
--     id the fact was recorded under, kept for the audit trail.
--   * Times are Unix nanoseconds (bigint; NULL for the zero time) so that
--     they round-trip exactly; to_timestamp(at / 1e9) shows one.
--   * Days are yyyymmdd integers (0: none).
--   * Free text is bytea, byte for byte: PostgreSQL text rejects NUL and
--     invalid UTF-8, which users can and do send.

CREATE SEQUENCE fact_seq;

-- A group that became a supergroup. Migrations form a star: home_chat is
-- the first id of the chat (resolved when the migration was recorded), so
-- every alias points straight at its home, and a chat's current id is the
-- to_chat of its newest migration. An id is migrated to at most once
-- (to_chat is unique) and never once it is a home with migrations, so no
-- chain or cycle can form.
CREATE TABLE chat_migrations (
	seq       bigint PRIMARY KEY DEFAULT nextval('fact_seq'),
	home_chat bigint NOT NULL,
	from_chat bigint NOT NULL,
	to_chat   bigint NOT NULL UNIQUE,
	at        bigint
);
CREATE INDEX chat_migrations_home ON chat_migrations (home_chat, seq);

-- chat_home returns the first id of the chat known by c; chat_current the
-- id to send to now. One index probe each. They are PL/pgSQL so that each
-- session plans their queries once (a LANGUAGE sql function with a
-- subquery is neither inlined nor cached).
CREATE FUNCTION chat_home(c bigint) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	h bigint;
BEGIN
	SELECT m.home_chat INTO h FROM chat_migrations m WHERE m.to_chat = c;
	RETURN coalesce(h, c);
END
$$;

CREATE FUNCTION chat_current(c bigint) RETURNS bigint
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	h bigint := chat_home(c);
	cur bigint;
BEGIN
	SELECT m.to_chat INTO cur FROM chat_migrations m WHERE m.home_chat = h ORDER BY m.seq DESC LIMIT 1;
	RETURN coalesce(cur, h);
END
$$;

CREATE TABLE bindings (
	seq       bigint PRIMARY KEY DEFAULT nextval('fact_seq'),
	home_chat bigint NOT NULL,
	chat      bigint NOT NULL,
	role      text   NOT NULL, -- '' records an unbind
	name      bytea  NOT NULL,
	by_user   bigint NOT NULL,
	at        bigint
);
CREATE INDEX bindings_home ON bindings (home_chat, seq);

CREATE TABLE members (
	seq       bigint  PRIMARY KEY DEFAULT nextval('fact_seq'),
	home_chat bigint  NOT NULL,
	chat      bigint  NOT NULL,
	user_id   bigint  NOT NULL,
	name      bytea   NOT NULL,
	has_left  boolean NOT NULL,
	at        bigint
);
CREATE INDEX members_home ON members (home_chat, user_id, seq);

CREATE TABLE settings (
	seq       bigint PRIMARY KEY DEFAULT nextval('fact_seq'),
	home_chat bigint NOT NULL,
	chat      bigint NOT NULL,
	key       bytea  NOT NULL,
	value     bytea  NOT NULL, -- '' records a reset to the default
	by_user   bigint NOT NULL,
	at        bigint
);
CREATE INDEX settings_home ON settings (home_chat, key, seq);

-- Every revision of every report. A report's current revision is its
-- highest seq, unless a withdrawal with a higher seq hides it.
CREATE TABLE revisions (
	seq          bigint  PRIMARY KEY DEFAULT nextval('fact_seq'),
	home_chat    bigint  NOT NULL,
	chat         bigint  NOT NULL,
	message_id   bigint  NOT NULL,
	revision     bigint  NOT NULL,
	kind         text    NOT NULL,
	lang         bytea   NOT NULL,
	field_names  text[],           -- NULL: no field map at all
	field_values bytea[],          -- parallel to field_names
	problems     bigint  NOT NULL,
	text         bytea   NOT NULL,
	sender_id    bigint  NOT NULL,
	sender       bytea   NOT NULL,
	sent_at      bigint,
	day          integer NOT NULL,
	event_day    integer NOT NULL, -- the kind's DateField value, 0 when none
	phone        bytea,            -- copied from the fields for FindIdentity
	id_number    bytea,
	at           bigint,
	UNIQUE (home_chat, message_id, revision)
);
CREATE INDEX revisions_report     ON revisions (home_chat, message_id, seq);
CREATE INDEX revisions_chat_day   ON revisions (home_chat, day);
CREATE INDEX revisions_day        ON revisions (day);
CREATE INDEX revisions_chat_event ON revisions (home_chat, event_day) WHERE event_day <> 0;
CREATE INDEX revisions_event      ON revisions (event_day) WHERE event_day <> 0;
CREATE INDEX revisions_phone      ON revisions (phone) WHERE phone IS NOT NULL;
CREATE INDEX revisions_id_number  ON revisions (id_number) WHERE id_number IS NOT NULL;

CREATE TABLE withdrawals (
	seq        bigint PRIMARY KEY DEFAULT nextval('fact_seq'),
	home_chat  bigint NOT NULL,
	chat       bigint NOT NULL,
	message_id bigint NOT NULL,
	by_user    bigint NOT NULL,
	at         bigint
);
CREATE INDEX withdrawals_report ON withdrawals (home_chat, message_id, seq);

-- Exactly-once claims: the primary key is the whole mechanism.
CREATE TABLE claims (
	key bytea  PRIMARY KEY,
	seq bigint NOT NULL DEFAULT nextval('fact_seq')
);

-- The outbox. A message's ID is its seq.
CREATE TABLE outbox (
	seq        bigint PRIMARY KEY DEFAULT nextval('fact_seq'),
	key        bytea  NOT NULL UNIQUE,
	home_chat  bigint NOT NULL,
	chat       bigint NOT NULL,
	method     bytea  NOT NULL,
	payload    bytea,
	not_before bigint,
	created_at bigint
);

-- Delivery attempts. terminal (sent or given up) is derived when the row
-- is written, and the partial index over it answers "is this message
-- done?" with one probe.
CREATE TABLE outbox_attempts (
	seq             bigint  PRIMARY KEY DEFAULT nextval('fact_seq'),
	message_seq     bigint  NOT NULL REFERENCES outbox (seq),
	attempt         bigint  NOT NULL,
	sent            boolean NOT NULL,
	sent_message_id bigint  NOT NULL,
	error           bytea   NOT NULL,
	retry_at        bigint,
	final           boolean NOT NULL,
	terminal        boolean GENERATED ALWAYS AS (sent OR final) STORED,
	at              bigint
);
CREATE INDEX outbox_attempts_message  ON outbox_attempts (message_seq, seq);
CREATE INDEX outbox_attempts_terminal ON outbox_attempts (message_seq) WHERE terminal;

-- The outbox horizon bounds what Due and OutboxStats scan. Each row says:
-- every message with seq < low_seq is done (sent or dead), except those
-- listed in pending. Rows are only appended (by Engine.Due, under an
-- exclusive advisory lock that waits out every enqueue in flight); the
-- newest row is the horizon. See outbox.go.
CREATE TABLE outbox_horizon (
	seq     bigint   PRIMARY KEY DEFAULT nextval('fact_seq'),
	low_seq bigint   NOT NULL,
	pending bigint[] NOT NULL
);
