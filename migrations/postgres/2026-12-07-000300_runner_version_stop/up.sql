-- Issue 20 (`team runners`, `team runner stop`).
-- The version of `team` a runner runs (NULL for runners registered before this column), and
-- when a stop was asked of it through the database (`team runner stop`): the runner reads it
-- at its next heartbeat and stops itself, which is how a runner on another host is stopped.
ALTER TABLE runners ADD COLUMN version TEXT;
ALTER TABLE runners ADD COLUMN stop_requested_at_ms BIGINT;
