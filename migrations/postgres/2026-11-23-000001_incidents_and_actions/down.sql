DROP TABLE action_tags;
DROP TABLE actions;
DROP SEQUENCE action_number_seq;
DROP TABLE incidents;
