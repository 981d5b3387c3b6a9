ALTER TABLE members DROP COLUMN not_before_ms;
ALTER TABLE members DROP COLUMN retry_backoff_ms;
ALTER TABLE members DROP COLUMN max_attempts;
ALTER TABLE members DROP COLUMN attempt;
