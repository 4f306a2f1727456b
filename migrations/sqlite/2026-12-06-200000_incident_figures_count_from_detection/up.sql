-- /stats counts an incident in the period it was detected (recorded, when nobody noted the detection) and
-- filters by that time; an index on the same expression serves the range on both backends.
CREATE INDEX incidents_opened ON incidents ((COALESCE(detected_at, created_at)));
