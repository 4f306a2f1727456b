DROP INDEX people_manager;
