DROP TRIGGER IF EXISTS member_requeued_notify ON members;
DROP TRIGGER IF EXISTS members_added_notify ON members;
DROP FUNCTION IF EXISTS team_member_requeued_notify();
DROP FUNCTION IF EXISTS team_members_added_notify();
