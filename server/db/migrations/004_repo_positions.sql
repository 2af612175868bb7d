-- Where each repository stands for this consumer: the last commit applied (from replay, live or a repository fetch),
-- in the same transaction as the rows it wrote, and whether the chain of commits followed without a gap
-- (server/indexer/repo-chain.ts has the rules, server/repos/resync-scheduler.ts the moves out of 'desynchronized').
--   active → desynchronized (a gap, a #sync with other data, getLatestCommit ahead) → resyncing (a fetch queued in
--   repos) → active (the fetch landed) | error (it could not be fetched).
CREATE TABLE repo_positions (
  did text COLLATE "C" PRIMARY KEY,
  -- The newest commit applied and its data (MST root) CID; null until a commit or #sync is seen.
  rev text COLLATE "C",
  data_cid text,
  sync_state text NOT NULL DEFAULT 'active'
    CHECK (sync_state IN ('active', 'desynchronized', 'resyncing', 'error')),
  -- Why it is in that state, and when it got there.
  reason text,
  state_changed_at timestamptz NOT NULL DEFAULT now(),
  -- What was missed: the commit (rev, since, prevData, seq) that showed it and what was expected instead.
  gap jsonb,
  -- Commits applied ahead of a predecessor still to come (batches commit out of order): [{after, afterData, before,
  -- beforePrevData, seq}]; null when there are none. One still open once the stream has passed its seq is a gap.
  holes jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX repo_positions_state_idx ON repo_positions (sync_state, state_changed_at) WHERE sync_state <> 'active';
CREATE INDEX repo_positions_holes_idx ON repo_positions (did) WHERE holes IS NOT NULL;

-- Gaps found and #sync events seen are kept in rejects (categories 'gap' and 'sync'); resolved_at is set once the
-- resync that repairs their repository lands (or at once, for a #sync that needed none). The record stays.
ALTER TABLE rejects ADD COLUMN resolved_at timestamptz;
CREATE INDEX rejects_unresolved_idx ON rejects (did) WHERE resolved_at IS NULL AND category IN ('gap', 'sync');
