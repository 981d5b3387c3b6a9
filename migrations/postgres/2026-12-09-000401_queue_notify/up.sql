-- Issue 19 (recovery after a host kill): wake the runners of every host when members become
-- pending, instead of leaving them to their queue poll (100 ms). A runner LISTENs on
-- `team_queue` (team_store::listen) and claims at once when it has a free slot; the poll stays
-- as the safety net (a lost notification, a listener that could not connect).
-- The payload is the earliest time one of the members may be claimed (ms since the epoch):
-- `0` for members added pending, a retried member's `not_before_ms` (the end of its backoff).
-- NOTIFY is sent at the commit, deduplicated within a transaction.

CREATE FUNCTION team_members_added_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM added WHERE status = 'pending') THEN
        PERFORM pg_notify('team_queue', '0');
    END IF;
    RETURN NULL;
END
$$;

-- One call per statement (a fan-out adds hundreds of members in one INSERT).
CREATE TRIGGER members_added_notify
    AFTER INSERT ON members
    REFERENCING NEW TABLE AS added
    FOR EACH STATEMENT EXECUTE FUNCTION team_members_added_notify();

CREATE FUNCTION team_member_requeued_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('team_queue', COALESCE(NEW.not_before_ms, 0)::text);
    RETURN NULL;
END
$$;

-- Only the rows that move back to pending (a retry) call it: claims and ends (every other
-- update of a member) are filtered out by the WHEN clause, before any call.
CREATE TRIGGER member_requeued_notify
    AFTER UPDATE OF status ON members
    FOR EACH ROW
    WHEN (NEW.status = 'pending' AND OLD.status IS DISTINCT FROM 'pending')
    EXECUTE FUNCTION team_member_requeued_notify();
