DROP TRIGGER evidence_no_truncate ON evidence;
DROP TRIGGER evidence_goes_only_with_its_incident ON evidence;
DROP FUNCTION evidence_goes_only_with_its_incident();
