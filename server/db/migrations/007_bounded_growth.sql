-- Bounded growth of two tables that only ever grew (server/indexer/tombstone-prune.ts, server/indexer/sql.ts).
--
-- tombstones are pruned once no replay can still bring an older op on their record. What a pruned tombstone did is
-- kept per repository, in one rev: no record of the repository that has no row may be written at a rev below
-- `tombstones_pruned_rev` (the newest rev whose tombstones were pruned). It is never lowered.
ALTER TABLE repo_positions ADD COLUMN tombstones_pruned_rev text COLLATE "C";
-- The pruner takes the oldest first.
CREATE INDEX tombstones_deleted_at_idx ON tombstones (deleted_at);

-- unindexed_collections counts each op once, however often its events are replayed: `counted` holds the seqs of
-- the firehose already counted for the collection (every batch adds the seqs it covers; adjacent spans merge, so a
-- finished replay is one range), and a replayed op whose seq lies in it is not counted again.
ALTER TABLE unindexed_collections ADD COLUMN counted int8multirange NOT NULL DEFAULT '{}';

-- Per relay, the highest seq of a delete whose tombstone was pruned. A later run replays nothing at or below it
-- (server/services/backfill/plan-window.ts): an older create replayed now could be one of a record those deletes
-- removed, so what is older comes from the repositories, whose fetched state has it deleted.
CREATE TABLE tombstone_horizons (
  relay text PRIMARY KEY,
  seq bigint NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
