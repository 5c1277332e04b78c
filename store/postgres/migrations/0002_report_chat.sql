-- Migration 2: a report is keyed by the chat its message was sent in.
--
-- A supergroup numbers its messages afresh: after a migration its message
-- 5 is not the old group's message 5. Revisions and withdrawals were keyed
-- by (home_chat, message_id), so the supergroup's message 5 was taken for
-- the old group's; they are now keyed by (chat, message_id), chat being
-- the id the message was sent in, exactly as given and never resolved.
--
-- A Chat filter on reports covers every id of the chat's family (its home
-- and every alias: chat_family below), found when the query runs rather
-- than stored with the row. A home_chat stored at insert would go stale
-- when a chat that has reports later becomes another chat's alias: its
-- reports would then be out of reach of every Chat filter.
--
-- So revisions and withdrawals lose home_chat. A gridbot older than this
-- migration fails every report write and read against the new schema (the
-- column is gone) instead of keying reports the old way; stop older
-- replicas before upgrading.

-- The new key can make an existing revision a repeat: the same (chat,
-- message_id, revision) recorded twice, under two homes, because the chat
-- became an alias between the two saves. Under the new key the later save
-- would have been skipped as a duplicate, so the later rows move here (in
-- the old layout, home_chat included) and stay for the audit trail; the
-- first one stays a fact.
CREATE TABLE revisions_repeated AS
	SELECT r.* FROM revisions r
	WHERE EXISTS (SELECT 1 FROM revisions f
		WHERE f.chat = r.chat AND f.message_id = r.message_id AND f.revision = r.revision AND f.seq < r.seq);
DELETE FROM revisions r USING revisions_repeated d WHERE r.seq = d.seq;

ALTER TABLE revisions DROP CONSTRAINT revisions_home_chat_message_id_revision_key;
DROP INDEX revisions_report;
DROP INDEX revisions_chat_day;
DROP INDEX revisions_chat_event;
ALTER TABLE revisions DROP COLUMN home_chat;

ALTER TABLE revisions ADD CONSTRAINT revisions_key UNIQUE (chat, message_id, revision);
CREATE INDEX revisions_report     ON revisions (chat, message_id, seq);
CREATE INDEX revisions_chat_day   ON revisions (chat, day);
CREATE INDEX revisions_chat_event ON revisions (chat, event_day) WHERE event_day <> 0;

DROP INDEX withdrawals_report;
ALTER TABLE withdrawals DROP COLUMN home_chat;
CREATE INDEX withdrawals_report ON withdrawals (chat, message_id, seq);

-- chat_family returns every id of the chat known by c: its home and every
-- alias (in no particular order). Two index probes.
CREATE FUNCTION chat_family(c bigint) RETURNS bigint[]
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
DECLARE
	h bigint := chat_home(c);
BEGIN
	RETURN array_prepend(h, ARRAY(SELECT m.to_chat FROM chat_migrations m WHERE m.home_chat = h));
END
$$;
