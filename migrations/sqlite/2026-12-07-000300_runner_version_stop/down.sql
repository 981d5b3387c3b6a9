ALTER TABLE runners DROP COLUMN stop_requested_at_ms;
ALTER TABLE runners DROP COLUMN version;
