-- Issue 19: on PostgreSQL this migration adds the triggers that NOTIFY `team_queue` when
-- members become pending (see migrations/postgres). SQLite has no notifications: a runner
-- wakes its own claim loop for what its process queued, and polls the queue for the rest.
-- Kept so the two migration lists stay in step.
SELECT 1;
