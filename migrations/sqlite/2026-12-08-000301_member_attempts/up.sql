-- Issue 18 (retries): a member's attempt number and its agent's retry policy, stored at spawn
-- so that any runner (or a reconciling process on another machine) applies the same policy;
-- `not_before_ms` delays the claim of a retried member by its backoff.
ALTER TABLE members ADD COLUMN attempt BIGINT NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 1;
ALTER TABLE members ADD COLUMN retry_backoff_ms BIGINT NOT NULL DEFAULT 1000;
ALTER TABLE members ADD COLUMN not_before_ms BIGINT;
