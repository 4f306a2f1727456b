DROP INDEX incidents_opened;
