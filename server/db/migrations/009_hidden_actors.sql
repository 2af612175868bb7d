-- The few actors that are not served (server/api/xrpc/data.ts, HIDDEN_STATUSES): a profile's follows count excludes
-- follows of them through this index instead of reading every actor. Its list must stay the one hiddenSql() writes,
-- or Postgres cannot prove the index applies (test/api/profile.test.ts checks that it does).
CREATE INDEX actors_hidden_idx ON actors (did) WHERE status IN ('takendown', 'suspended', 'deactivated', 'deleted');
