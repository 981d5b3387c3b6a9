-- Issue 18 (resume): the latest checkpoint of each LLM member's conversation, written after
-- every model call and tool result (and with a persistent member's end of turn), so that a
-- retried or resumed member goes on from it instead of from scratch. It goes with its member.
CREATE TABLE checkpoints (
    member_id BIGINT PRIMARY KEY REFERENCES members(id) ON DELETE CASCADE,
    team_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    calls BIGINT NOT NULL,
    turn_done BOOLEAN NOT NULL DEFAULT FALSE,
    messages TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX checkpoints_team ON checkpoints (team_id);
