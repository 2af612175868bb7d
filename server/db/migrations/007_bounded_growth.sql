-- Bounded growth of two tables that only ever grew (server/indexer/tombstone-prune.ts, server/indexer/sql.ts).
--
-- tombstones are pruned once no replay can still bring an older op on their record. What a pruned tombstone did is
-- kept per repository, in one rev: no record of the repository that has no row may be written at a rev below
-- `tombstones_pruned_rev` (the newest rev whose tombstones were pruned). It is never lowered.
ALTER TABLE repo_positions ADD COLUMN tombstones_pruned_rev text COLLATE "C";
-- The pruner takes the oldest first.
CREATE INDEX tombstones_deleted_at_idx ON tombstones (deleted_at);

-- unindexed_collections counts each op once, however often its events are replayed: the seqs of the firehose whose
-- ops have been counted, in one row. Every batch of a stream adds the span of seqs it holds every frame of, whether
-- or not it had ops to count, so adjacent spans merge (a finished replay is one range) and what a replay brings again
-- is found in it and not counted twice.
CREATE TABLE unindexed_counted (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  seqs int8multirange NOT NULL DEFAULT '{}'
);
INSERT INTO unindexed_counted DEFAULT VALUES;

-- Per relay, the highest seq of a delete whose tombstone was pruned. A later run replays nothing at or below it
-- (server/services/backfill/plan-window.ts): an older create replayed now could be one of a record those deletes
-- removed, so what is older comes from the repositories, whose fetched state has it deleted.
CREATE TABLE tombstone_horizons (
  relay text PRIMARY KEY,
  seq bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
