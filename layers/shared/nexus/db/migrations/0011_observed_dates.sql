-- 0011: dates that tell the truth (contract §10). Post insights are lifetime totals, only
-- ever observed "now": a row's date is the UTC day its values were observed. A run stays
-- keyed by its job's snapshot date (which ends the post window); a job that runs on a later
-- day (late, or redriven) stores its rows under that day and its run records it here.
ALTER TABLE ingestion_runs ADD COLUMN observed_date date;
UPDATE ingestion_runs SET observed_date = date WHERE finished_at IS NOT NULL;

GRANT INSERT (observed_date), UPDATE (observed_date) ON ingestion_runs TO nexus_ingest;
