-- The `team` schema, PostgreSQL flavour. Keep in step with migrations/sqlite and
-- team-store/src/schema.rs. Times are BIGINT milliseconds since the Unix epoch (UTC).
-- Statuses are the wire names of team-core's lifecycle enums.

-- Runner processes that serve a project's pending members (one row per `team runner`).
CREATE TABLE runners (
    id TEXT PRIMARY KEY NOT NULL,
    pid BIGINT NOT NULL,
    host TEXT NOT NULL,
    max_agents BIGINT NOT NULL,
    started_at_ms BIGINT NOT NULL,
    heartbeat_at_ms BIGINT NOT NULL,
    stopped_at_ms BIGINT
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
);
-- A name is unique among active teams only: a disbanded team's name can be reused.
CREATE UNIQUE INDEX teams_active_name ON teams (name) WHERE status = 'active';
CREATE INDEX teams_name ON teams (name, created_at_ms);

-- id doubles as the FIFO position of pending members.
CREATE TABLE members (
    id BIGSERIAL PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    name TEXT NOT NULL,
    agent TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL,
    prompt TEXT,
    persistent BOOLEAN NOT NULL DEFAULT FALSE,
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
    busy_ms BIGINT NOT NULL DEFAULT 0,
    UNIQUE (team_id, name)
);
CREATE INDEX members_queue ON members (status, id);
CREATE INDEX members_runner ON members (runner_id, status);

CREATE TABLE tasks (
    team_id TEXT NOT NULL REFERENCES teams (id),
    id BIGINT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL,
    assignee TEXT,
    result TEXT,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (team_id, id)
);
CREATE INDEX tasks_board ON tasks (team_id, status, id);

-- task_id cannot be claimed until blocker_id is completed.
CREATE TABLE task_deps (
    team_id TEXT NOT NULL,
    task_id BIGINT NOT NULL,
    blocker_id BIGINT NOT NULL,
    PRIMARY KEY (team_id, task_id, blocker_id),
    FOREIGN KEY (team_id, task_id) REFERENCES tasks (team_id, id),
    FOREIGN KEY (team_id, blocker_id) REFERENCES tasks (team_id, id)
);

-- One row per delivery: a broadcast fans out one row per recipient.
CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    team_id TEXT NOT NULL REFERENCES teams (id),
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    broadcast BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms BIGINT NOT NULL,
    delivered_at_ms BIGINT
);
CREATE INDEX messages_unread ON messages (team_id, recipient, id) WHERE delivered_at_ms IS NULL;
CREATE INDEX messages_team ON messages (team_id, id);

-- Agent memory, per agent and project root.
CREATE TABLE memories (
    agent TEXT NOT NULL,
    project_root TEXT NOT NULL,
    content TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (agent, project_root)
);

-- Append-only log of every state change (`team logs`).
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
    team_id TEXT,
    member TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX events_team ON events (team_id, id);
