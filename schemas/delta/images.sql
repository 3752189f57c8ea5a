-- One row per image id: what neardup has seen (stream) or was given as known (banks).
-- Hashes are BIGINT words: one word for a 64-bit hash, four for a 256-bit one (hash_size 16, PDQ);
-- crop_resistant holds one word per segment. A word is the hash's bits, most significant first,
-- as a signed 64-bit integer; hash types that were not configured are NULL.
CREATE TABLE IF NOT EXISTS images (
  id                STRING NOT NULL,
  bank              STRING,            -- NULL for images seen in the stream; else the bank's name
  uri               STRING,
  hash_size         INT,
  ahash             ARRAY<BIGINT>,
  phash             ARRAY<BIGINT>,
  dhash             ARRAY<BIGINT>,
  whash             ARRAY<BIGINT>,
  whash_db4         ARRAY<BIGINT>,
  colorhash         ARRAY<BIGINT>,
  crop_resistant    ARRAY<BIGINT>,
  pdq               ARRAY<BIGINT>,
  pdq_quality       INT,
  source_topic      STRING,            -- Kafka position of the message that registered the image
  source_partition  INT,
  source_offset     BIGINT,
  source_timestamp  TIMESTAMP,
  registered_by     STRING,            -- the writer's app id (derived from the stream checkpoint, or a batch job id)
  batch_id          BIGINT,            -- the micro-batch (or batch job run) that registered the row
  registered_at     TIMESTAMP,
  meta              STRING,            -- the image's free metadata object, as JSON text: the message's
                                       -- `meta`, or `index add --meta/--manifest`'s (added last: older
                                       -- tables gain it when opened, HashIndex.ensure)
  crops             ARRAY<BIGINT>      -- the primary hash of each central crop (hashing.crops): per
                                       -- crop its share in percent, then the hash's words; NULL
                                       -- without crops (added later, as meta: index/crops.py)
) USING DELTA
