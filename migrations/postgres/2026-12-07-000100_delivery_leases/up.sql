-- Nothing lost, nothing stuck (issue 14).
-- A CLI consumer's inbox take leases its messages: `lease` names the take, `lease_until_ms`
-- is when they become visible again unless the take was acknowledged (`delivered_at_ms` set).
ALTER TABLE messages ADD COLUMN lease TEXT;
ALTER TABLE messages ADD COLUMN lease_until_ms BIGINT;
-- A broadcast stores its body once: the other deliveries point at the row holding it.
ALTER TABLE messages ADD COLUMN body_of BIGINT;
-- A claim with a lease (`team task claim --lease SECS`): past this time an `in_progress`
-- task goes back to `pending` (abandoned by a killed claimant).
ALTER TABLE tasks ADD COLUMN lease_until_ms BIGINT;
CREATE INDEX tasks_leased ON tasks (team_id, lease_until_ms) WHERE lease_until_ms IS NOT NULL;
-- `team send --key K`: a retried send with the same key stores nothing new.
ALTER TABLE messages ADD COLUMN send_key TEXT;
CREATE UNIQUE INDEX messages_send_key ON messages (team_id, sender, send_key, recipient)
    WHERE send_key IS NOT NULL;
