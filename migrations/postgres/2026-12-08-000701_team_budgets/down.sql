ALTER TABLE teams DROP COLUMN budget_team_id;
ALTER TABLE teams DROP COLUMN max_usd;
ALTER TABLE teams DROP COLUMN max_tokens;
