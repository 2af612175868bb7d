-- Record tables share a header: uri (primary key), did, rkey, rev (repo revision of the op that wrote the row),
-- cid, seq (firehose seq of that op), indexed_at. Every identifier column (URIs, DIDs, revs, rkeys) uses the "C"
-- collation: TIDs compare bytewise, which is their defined order, and columns that are joined to each other must
-- share a collation or Postgres cannot use their indexes for the join.

CREATE TABLE actors (
  did text COLLATE "C" PRIMARY KEY,
  handle text,
  handle_seq bigint NOT NULL DEFAULT 0,
  status text NOT NULL DEFAULT 'active',
  status_seq bigint NOT NULL DEFAULT 0,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX actors_handle_idx ON actors (handle, handle_seq DESC);

CREATE TABLE posts (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  text text NOT NULL,
  reply_root text COLLATE "C",
  reply_parent text COLLATE "C",
  embed_uri text COLLATE "C",
  langs jsonb,
  created_at timestamptz NOT NULL,
  -- Where the post sorts in feeds: createdAt, or the frame's sequencing time when createdAt claims a later one.
  sort_at timestamptz NOT NULL,
  record jsonb NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX posts_did_idx ON posts (did, sort_at DESC, uri);
CREATE INDEX posts_reply_parent_idx ON posts (reply_parent);
CREATE INDEX posts_reply_root_idx ON posts (reply_root);
CREATE INDEX posts_embed_uri_idx ON posts (embed_uri) WHERE embed_uri IS NOT NULL;

CREATE TABLE likes (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  subject_uri text COLLATE "C" NOT NULL,
  subject_cid text NOT NULL,
  created_at timestamptz NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX likes_subject_idx ON likes (subject_uri, created_at DESC, uri);
CREATE INDEX likes_did_idx ON likes (did);

CREATE TABLE reposts (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  subject_uri text COLLATE "C" NOT NULL,
  subject_cid text NOT NULL,
  created_at timestamptz NOT NULL,
  sort_at timestamptz NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reposts_subject_idx ON reposts (subject_uri, created_at DESC, uri);
CREATE INDEX reposts_did_idx ON reposts (did, sort_at DESC, uri);

CREATE TABLE follows (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  subject_did text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX follows_subject_idx ON follows (subject_did, created_at DESC, uri);
CREATE INDEX follows_did_idx ON follows (did, created_at DESC, uri);

CREATE TABLE blocks (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  subject_did text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX blocks_subject_idx ON blocks (subject_did);
CREATE INDEX blocks_did_idx ON blocks (did);

CREATE TABLE lists (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  name text NOT NULL,
  purpose text NOT NULL,
  description text,
  created_at timestamptz NOT NULL,
  record jsonb NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lists_did_idx ON lists (did);

CREATE TABLE list_items (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  list_uri text COLLATE "C" NOT NULL,
  subject_did text COLLATE "C" NOT NULL,
  created_at timestamptz NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX list_items_list_idx ON list_items (list_uri);

CREATE TABLE profiles (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rkey text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  cid text NOT NULL,
  seq bigint NOT NULL,
  display_name text,
  description text,
  avatar_cid text,
  banner_cid text,
  created_at timestamptz,
  record jsonb NOT NULL,
  indexed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX profiles_did_idx ON profiles (did);

-- A delete's rev, kept so that an older create or update arriving later cannot bring the record back.
CREATE TABLE tombstones (
  uri text COLLATE "C" PRIMARY KEY,
  did text COLLATE "C" NOT NULL,
  rev text COLLATE "C" NOT NULL,
  seq bigint NOT NULL,
  deleted_at timestamptz NOT NULL DEFAULT now()
);

-- What could not be indexed, with why. seq is the frame's seq, or for a frame too broken to tell, the last
-- seq seen before it (seq_known = false).
CREATE TABLE rejects (
  id bigserial PRIMARY KEY,
  seq bigint,
  seq_known boolean NOT NULL DEFAULT true,
  source text NOT NULL,
  category text NOT NULL,
  reason text NOT NULL,
  did text,
  uri text,
  collection text,
  detail jsonb,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejects_category_idx ON rejects (category, created_at DESC);
CREATE UNIQUE INDEX rejects_dedupe_idx ON rejects (source, seq, coalesce(uri, ''), category, reason) WHERE seq_known;

-- Ops on collections we do not index (other apps' records): counted per collection rather than kept one by one,
-- because on the real network they are a steady few percent of all ops.
CREATE TABLE unindexed_collections (
  collection text PRIMARY KEY,
  ops bigint NOT NULL DEFAULT 0,
  last_seq bigint NOT NULL DEFAULT 0,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per consumer of the firehose ('backfill', 'firehose'): the seq below which everything is written or
-- rejected, and what the consumer needs to resume (window, start, head, state).
CREATE TABLE cursors (
  name text PRIMARY KEY,
  seq bigint,
  meta jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);
