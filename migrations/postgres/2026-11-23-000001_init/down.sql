DROP TABLE events;
DROP TABLE memories;
DROP TABLE messages;
DROP TABLE task_deps;
DROP TABLE tasks;
DROP TABLE members;
DROP TABLE teams;
DROP TABLE runners;
