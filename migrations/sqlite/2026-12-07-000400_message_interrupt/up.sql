-- Issue 18 (steering a member mid-turn): `team send --interrupt` marks its message so that the
-- runner of a member in a model call cancels that call and asks again with the message.
ALTER TABLE messages ADD COLUMN interrupt BOOLEAN NOT NULL DEFAULT 0;
