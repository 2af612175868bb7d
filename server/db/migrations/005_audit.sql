-- The audit asks, for each record a repository holds and the database does not, whether the indexer refused it:
-- a lookup of rejects by URI, which no index served.
CREATE INDEX rejects_uri_idx ON rejects (uri) WHERE uri IS NOT NULL;
