-- Issue 14 (nothing lost, nothing stuck).
-- A runner's own heartbeat period, so that every process judges it lost by its own clock
-- (team_core::runner::runner_lost), and the fingerprint of the environment it runs agents
-- with (a keyed hash, never the values themselves).
ALTER TABLE runners ADD COLUMN heartbeat_ms BIGINT NOT NULL DEFAULT 2000;
ALTER TABLE runners ADD COLUMN env_fingerprint TEXT;
-- What a member was spawned with: the agent definition's text and where it came from
-- (`KIND:PATH`), and the fingerprint of the spawner's environment. A runner runs exactly that
-- definition and claims only members whose fingerprint is its own (or none).
ALTER TABLE members ADD COLUMN agent_def TEXT;
ALTER TABLE members ADD COLUMN agent_source TEXT;
ALTER TABLE members ADD COLUMN env_fingerprint TEXT;
