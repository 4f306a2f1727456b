DROP INDEX deliveries_recipient_sent;
