-- The name e-mails are addressed to ("Dana Reyes" <dana@example.com>), when the directory or the action knows it.
ALTER TABLE deliveries ADD COLUMN recipient_name TEXT;
