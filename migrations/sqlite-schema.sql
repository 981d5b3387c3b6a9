-- The schema the SQLite migrations (migrations/sqlite) make, as SQLite stores it.
-- A brand-new database is made from this file in one script (team-store/src/open.rs,
-- SQLITE_SCHEMA). Generated: TEAM_BLESS=1 cargo test -p team-store --lib sqlite_schema
CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams (id),
    member TEXT NOT NULL,
    kind TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    summary TEXT NOT NULL,
    why TEXT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    reason TEXT,
    always BOOLEAN NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT
);
CREATE TABLE checkpoints (
    member_id BIGINT PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    team_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    turn_done BOOLEAN NOT NULL DEFAULT 0,
    messages TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    team_id TEXT,
    member TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE members (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams (id),
    name TEXT NOT NULL,
    agent TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    prompt TEXT,
    persistent BOOLEAN NOT NULL DEFAULT 0,
    timeout_secs BIGINT,
    runner_id TEXT,
    pid BIGINT,
    created_at_ms BIGINT NOT NULL,
    started_at_ms BIGINT,
    updated_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT,
    result TEXT,
    error TEXT,
    turns BIGINT NOT NULL DEFAULT 0,
    tokens_in BIGINT NOT NULL DEFAULT 0,
    tokens_out BIGINT NOT NULL DEFAULT 0,
    busy_ms BIGINT NOT NULL DEFAULT 0, agent_def TEXT, agent_source TEXT, env_fingerprint TEXT, attempt BIGINT NOT NULL DEFAULT 1, max_attempts BIGINT NOT NULL DEFAULT 1, retry_backoff_ms BIGINT NOT NULL DEFAULT 1000, not_before_ms BIGINT, on_ask TEXT,
    UNIQUE (team_id, name)
);
CREATE TABLE memories (
    agent TEXT NOT NULL,
    project_root TEXT NOT NULL,
    content TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (agent, project_root)
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    team_id TEXT NOT NULL REFERENCES teams (id),
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    broadcast BOOLEAN NOT NULL DEFAULT 0,
    created_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT
, lease TEXT, lease_until_ms BIGINT, body_of BIGINT, send_key TEXT, interrupt BOOLEAN NOT NULL DEFAULT 0);
CREATE TABLE runners (
    id TEXT PRIMARY KEY NOT NULL,
    pid BIGINT NOT NULL,
    host TEXT NOT NULL,
    max_agents BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    stopped_at_ms BIGINT
, heartbeat_ms BIGINT NOT NULL DEFAULT 2000, env_fingerprint TEXT, version TEXT, stop_requested_at_ms BIGINT);
CREATE TABLE task_deps (
    team_id TEXT NOT NULL,
    task_id BIGINT NOT NULL,
    blocker_id BIGINT NOT NULL,
    PRIMARY KEY (team_id, task_id, blocker_id),
    FOREIGN KEY (team_id, task_id) REFERENCES tasks (team_id, id),
    FOREIGN KEY (team_id, blocker_id) REFERENCES tasks (team_id, id)
);
CREATE TABLE tasks (
    team_id TEXT NOT NULL REFERENCES teams (id),
    id BIGINT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    assignee TEXT,
    result TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL, lease_until_ms BIGINT,
    PRIMARY KEY (team_id, id)
);
CREATE TABLE teams (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    lead_agent TEXT NOT NULL,
    workflow TEXT,
    project_root TEXT NOT NULL,
    runner_id TEXT,
    owner_pid BIGINT,
    owner_host TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    ended_at_ms BIGINT,
    reason TEXT,
    next_task_id BIGINT NOT NULL DEFAULT 1
, max_tokens BIGINT, max_usd DOUBLE, budget_team_id TEXT);
CREATE INDEX approvals_member ON approvals (team_id, member, tool);
CREATE INDEX approvals_team ON approvals (team_id, status, id);
CREATE INDEX checkpoints_team ON checkpoints (team_id);
CREATE INDEX events_team ON events (team_id, id);
CREATE INDEX members_live ON members (team_id, role, status);
CREATE INDEX members_queue ON members (status, id);
CREATE INDEX members_runner ON members (runner_id, status);
CREATE INDEX members_team_order ON members (team_id, id);
CREATE UNIQUE INDEX messages_send_key ON messages (team_id, sender, send_key, recipient)
    WHERE send_key IS NOT NULL;
CREATE INDEX messages_team ON messages (team_id, id);
CREATE INDEX messages_unread ON messages (team_id, recipient, id) WHERE delivered_at_ms IS NULL;
CREATE INDEX tasks_board ON tasks (team_id, status, id);
CREATE INDEX tasks_leased ON tasks (team_id, lease_until_ms) WHERE lease_until_ms IS NOT NULL;
CREATE UNIQUE INDEX teams_active_name ON teams (name) WHERE status = 'active';
CREATE INDEX teams_name ON teams (name, created_at_ms);
