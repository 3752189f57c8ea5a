-- Multi-index hashing: the primary hash of every image split into bands; a query looks up its probes
-- (band, value) here with an equi-join, then verifies the Hamming distance on `hash` exactly.
-- The full primary hash and the ordering fields are repeated so that verification and the
-- "earlier image" rule need no join back to `images`.
-- Not partitioned: every lookup probes every band, and a micro-batch's append is then one small file,
-- not one per band; `neardup index optimize` Z-orders it by value so lookups skip files.
CREATE TABLE IF NOT EXISTS bands (
  hash_type         STRING NOT NULL,   -- the primary hash type the bands were cut from
  band              INT NOT NULL,
  value             BIGINT NOT NULL,   -- the band's bits as an unsigned integer
  id                STRING NOT NULL,
  bank              STRING,
  hash              ARRAY<BIGINT>,
  source_timestamp  TIMESTAMP,
  source_partition  INT,
  source_offset     BIGINT,
  registered_by     STRING,
  batch_id          BIGINT
) USING DELTA
