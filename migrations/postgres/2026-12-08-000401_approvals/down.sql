ALTER TABLE members DROP COLUMN on_ask;
DROP TABLE approvals;
