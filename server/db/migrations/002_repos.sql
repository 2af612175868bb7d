-- The repository work: one row per repository (a job of the repo backfill and the per-repo position the
-- consistency checks compare against), where each listing of repositories stands, and what is known of each
-- actor's identity (DID document → PDS, handle verified both ways).

-- Job states (server/repos/job-state.ts is the one place that lists them and their transitions):
--   pending → fetching → done; fetching → failed (retried at next_try_at) | unavailable (account inactive, repo
--   gone: not retried until the account changes). `lease_owner`/`lease_until` say which instance holds a fetching
--   job; a lease that has run out may be claimed by anyone.
CREATE TABLE repos (
  did text COLLATE "C" PRIMARY KEY,
  state text NOT NULL DEFAULT 'pending',
  -- Where the listing found it ('relay', 'pds:<host>', 'config').
  discovered_via text NOT NULL,
  -- The PDS the repository was fetched from (hostname), for the per-host view.
  host text COLLATE "C",
  -- Fetch only what changed after this rev (the window's start as a TID); null: the whole repository.
  since text COLLATE "C",
  -- The repository's commit rev and data (MST root) CID as last fetched.
  rev text COLLATE "C",
  data_cid text,
  records bigint NOT NULL DEFAULT 0,
  attempts integer NOT NULL DEFAULT 0,
  next_try_at timestamptz NOT NULL DEFAULT now(),
  -- Why it failed or is unavailable; the account status for 'unavailable'.
  reason text,
  account_status text,
  lease_owner text,
  lease_until timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  done_at timestamptz
);
CREATE INDEX repos_claim_idx ON repos (state, next_try_at);
CREATE INDEX repos_host_idx ON repos (host, state);

-- One row per listing source ('relay', 'pds:<host>'): the listRepos cursor to continue from, and whether it ended.
CREATE TABLE repo_listings (
  source text PRIMARY KEY,
  cursor text,
  complete boolean NOT NULL DEFAULT false,
  repos bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Identity, for every actor the indexer meets (replay, live, repos). `handle` stays the served handle, but from
-- now on it is only ever a verified one (null: handle.invalid). `identity_due_at` is when the DID document is to be
-- (re)resolved: new actors and #identity events make it due now; a resolution sets it one TTL ahead.
ALTER TABLE actors
  ADD COLUMN pds_url text,
  ADD COLUMN identity_due_at timestamptz DEFAULT now(),
  ADD COLUMN identity_checked_at timestamptz,
  ADD COLUMN identity_error text;
CREATE INDEX actors_identity_due_idx ON actors (identity_due_at) WHERE identity_due_at IS NOT NULL;
