-- A team's members in creation order (the head of the list in every LLM member's system
-- prompt, `team member list`) without sorting all of them: one index range read.
CREATE INDEX members_team_order ON members (team_id, id);
-- "Is any member of the team still live?", asked at every member's end: an index seek, not a
-- read of every member row of the team (O(N) per end, O(N²) per team).
CREATE INDEX members_live ON members (team_id, role, status);
