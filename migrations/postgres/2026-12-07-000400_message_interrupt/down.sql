ALTER TABLE messages DROP COLUMN interrupt;
