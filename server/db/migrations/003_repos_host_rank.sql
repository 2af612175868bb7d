-- Claim order for repository jobs that spreads the work over hosts: a job's `host_rank` is its place in its host's
-- queue (1 for the first job enqueued for a host, 2 for the second, ...), so claiming in rank order takes the first
-- job of every host before the second of any, and one host with a long queue (or parked by its rate limits) does not
-- hold up the others. Jobs whose host is not known yet (listed by the relay) share one queue of their own.
ALTER TABLE repos ADD COLUMN host_rank bigint NOT NULL DEFAULT 0;
CREATE INDEX repos_claim_rank_idx ON repos (host_rank, did) WHERE state IN ('pending', 'failed', 'fetching');
CREATE INDEX repos_host_rank_idx ON repos (host, host_rank);
