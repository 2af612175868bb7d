-- When another instance may take a unit of work from its holder (server/db/lease-liveness.ts).
-- live_ms: how long after its last heartbeat an instance still counts as live (three of its heartbeat intervals),
-- written by the instance itself, so that every other instance judges it by its own pace. A lease held by an
-- instance that is no longer live is claimable at once, without waiting for the lease to run out.
ALTER TABLE instances ADD COLUMN live_ms integer NOT NULL DEFAULT 6000 CHECK (live_ms > 0);
-- lease_ms: the length of the lease its holder took, so that after a restart of the database the holder is given that
-- long again to renew it (nothing could be renewed while the database was down).
ALTER TABLE repos ADD COLUMN lease_ms integer;
ALTER TABLE replay_ranges ADD COLUMN lease_ms integer;
