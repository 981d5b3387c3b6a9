-- Issue 18 (budgets): a team-wide budget on the team row, set by `team create --max-tokens N
-- --max-cost USD` (or `[team] max_tokens` / `max_cost` in config.toml); NULL: no cap. Members
-- started with `task` reserve their max_tokens against it (team_core::budget).
ALTER TABLE teams ADD COLUMN max_tokens BIGINT;
ALTER TABLE teams ADD COLUMN max_usd DOUBLE PRECISION;
-- A team a member made with the `team_create` tool shares its creator's team's budget: the
-- id of the team whose budget (and spend) it is part of; NULL: its own.
ALTER TABLE teams ADD COLUMN budget_team_id TEXT;
