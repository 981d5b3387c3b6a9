-- Issue 18 (budgets): a team-wide budget on the team row, set by `team create --max-tokens N
-- --max-cost USD` (or `[team] max_tokens` / `max_cost` in config.toml); NULL: no cap. Members
-- started with `task` reserve their max_tokens against it (team_core::budget).
ALTER TABLE teams ADD COLUMN max_tokens BIGINT;
ALTER TABLE teams ADD COLUMN max_usd DOUBLE;
