-- The replay window of a backfill run split into seq ranges that any instance may claim (server/services/backfill/
-- range-store.ts). A range is (range_start, range_end]: it ends where the next begins, so the ranges of one run cover
-- its window exactly once. Its committed cursor is the cursors row named cursor_name, advanced by the writer inside
-- the batch transactions that write the range's rows, so the rows and the cursor commit together.
--   pending → replaying (held under a lease, renewed by its holder's heartbeat; an expired one is claimable again,
--   from the committed cursor) → done (by its holder only, once; never claimed again).
CREATE TABLE replay_ranges (
  id bigserial PRIMARY KEY,
  -- The run (RunMeta.startedAt): a new run deletes the ranges of the one before.
  run_id text NOT NULL,
  range_start bigint NOT NULL,
  range_end bigint NOT NULL CHECK (range_end > range_start),
  cursor_name text NOT NULL UNIQUE,
  state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'replaying', 'done')),
  lease_owner text,
  lease_until timestamptz,
  -- Where the current (or last) holder started from: the committed cursor when it claimed the range.
  claimed_from bigint,
  claims integer NOT NULL DEFAULT 0,
  done_by text,
  done_at timestamptz,
  UNIQUE (run_id, range_start)
);
CREATE INDEX replay_ranges_claim_idx ON replay_ranges (run_id, range_start) WHERE state <> 'done';

-- Every instance sharing this database, as its heartbeat last said (server/services/instance-registry.ts). Live:
-- a heartbeat within three intervals. Per-host request limits are divided among the live instances.
CREATE TABLE instances (
  id text PRIMARY KEY,
  hostname text NOT NULL,
  pid integer NOT NULL,
  started_at timestamptz NOT NULL,
  last_heartbeat timestamptz NOT NULL DEFAULT now(),
  -- What it held at that heartbeat, and its rates then.
  ranges_held integer NOT NULL DEFAULT 0,
  repos_held integer NOT NULL DEFAULT 0,
  events_per_second real NOT NULL DEFAULT 0,
  records_per_second real NOT NULL DEFAULT 0,
  -- Frames its replay has written since it started, for the operator's per-instance view.
  frames_written bigint NOT NULL DEFAULT 0
);
