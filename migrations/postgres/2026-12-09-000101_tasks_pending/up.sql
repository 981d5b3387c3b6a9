-- Issue 19 (claims): the pending tasks of a board in id order, what every claim picks from
-- (`status = 'pending' … ORDER BY id`). With only `tasks_board` and the primary key, the
-- planner, once the table was analyzed while most tasks were pending, walked the primary key
-- from the board's first task and filtered out every task claimed so far (18-26 ms per claim
-- with 20,000 claimed ahead of the first pending task, against under 1 ms through this index;
-- bench/findings.md). A claimed task leaves it (no entry is written for it).
CREATE INDEX tasks_pending ON tasks (team_id, id) WHERE status = 'pending';
-- PostgreSQL only: SQLite's planner picks through `tasks_board` whatever it knows of the
-- table, and there the index would only be one more to write per task.
