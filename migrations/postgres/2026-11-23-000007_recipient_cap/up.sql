-- The per-recipient daily cap counts what each recipient was sent in the last 24 hours.
CREATE INDEX deliveries_recipient_sent ON deliveries (recipient, status, sent_at);
