-- Issue 18 (approval gates that work headless): a member's tool call that needs a human's
-- approval (`permission: ask` with `--on-ask park`), or its plan (`plan: required`), is a row
-- here; the member waits (`members.status = 'waiting'`) until `team approve` / `team deny`
-- decides it. The row is the truth: a runner that died meanwhile, and `team resume`, read
-- the decision from here. `always`: an approval that allows every later call of `tool` in the
-- team.
CREATE TABLE approvals (
    id BIGSERIAL PRIMARY KEY,
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
    always BOOLEAN NOT NULL DEFAULT FALSE,
    created_at_ms BIGINT NOT NULL,
    decided_at_ms BIGINT
);
CREATE INDEX approvals_team ON approvals (team_id, status, id);
CREATE INDEX approvals_member ON approvals (team_id, member, tool);

-- `team spawn --on-ask MODE`: what an `ask` of this member's tool calls becomes (prompt, deny,
-- park); NULL: the runner's own setting (`--on-ask`, `[team] on_ask`).
ALTER TABLE members ADD COLUMN on_ask TEXT;
