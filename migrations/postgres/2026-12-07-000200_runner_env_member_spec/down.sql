ALTER TABLE members DROP COLUMN env_fingerprint;
ALTER TABLE members DROP COLUMN agent_source;
ALTER TABLE members DROP COLUMN agent_def;
ALTER TABLE runners DROP COLUMN env_fingerprint;
ALTER TABLE runners DROP COLUMN heartbeat_ms;
