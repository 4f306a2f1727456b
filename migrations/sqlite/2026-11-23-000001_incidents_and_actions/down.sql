DROP TABLE key_counters;
DROP TABLE action_tags;
DROP TABLE actions;
DROP TABLE incidents;
