ALTER TABLE deliveries DROP COLUMN recipient_name;
