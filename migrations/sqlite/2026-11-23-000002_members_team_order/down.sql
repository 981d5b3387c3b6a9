DROP INDEX members_live;
DROP INDEX members_team_order;
