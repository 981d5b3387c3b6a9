DROP INDEX messages_send_key;
ALTER TABLE messages DROP COLUMN send_key;
DROP INDEX tasks_leased;
ALTER TABLE tasks DROP COLUMN lease_until_ms;
ALTER TABLE messages DROP COLUMN body_of;
ALTER TABLE messages DROP COLUMN lease_until_ms;
ALTER TABLE messages DROP COLUMN lease;
