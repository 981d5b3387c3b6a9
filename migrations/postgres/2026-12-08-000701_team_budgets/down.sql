ALTER TABLE teams DROP COLUMN max_usd;
ALTER TABLE teams DROP COLUMN max_tokens;
