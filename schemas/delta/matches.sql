-- The match log: one row per alert the stream decided (published, or held back by flood control),
-- (image, match, hash type) once, appended in the micro-batch's own Delta transaction (txnAppId =
-- the stream's app id, txnVersion = the batch id), so a batch run again after a crash writes its
-- rows once. Each row stands alone: both images, both Kafka positions, the distance and the bank,
-- readable with any Delta reader (docs/banks.md).
CREATE TABLE IF NOT EXISTS matches (
  alert_id         STRING NOT NULL,   -- the alert's key on the alerts topic
  image_id         STRING NOT NULL,
  match_id         STRING NOT NULL,
  hash_type        STRING NOT NULL,
  bank             STRING,            -- the match's bank; NULL: an earlier image of the stream
  distance         INT NOT NULL,
  transform        STRING,            -- the transform turning the match into the image (dihedral, or a crop)
  threshold        INT NOT NULL,      -- the threshold the pair was held to (its bank's)
  distances        STRING NOT NULL,   -- each configured hash type's distance, as a JSON object
  image_uri        STRING,
  match_uri        STRING,
  image_meta       STRING,            -- the image's producer `meta`, as JSON text
  image_topic      STRING,            -- the image's Kafka position
  image_partition  INT,
  image_offset     BIGINT,
  image_timestamp  TIMESTAMP,
  match_topic      STRING,            -- the match's; NULL for a bank member registered outside the stream
  match_partition  INT,
  match_offset     BIGINT,
  match_timestamp  TIMESTAMP,
  sent             BOOLEAN,           -- published as an alert; false: held back by flood control
  suppressed       INT,               -- of a sent alert: the match's alerts held back just before it
  detected_at      TIMESTAMP NOT NULL,
  written_by       STRING NOT NULL,   -- the stream's app id
  batch_id         BIGINT NOT NULL,   -- the micro-batch that wrote the row
  match_meta       STRING             -- the match's `meta` (its `images` row), as JSON text; added last,
                                      -- so an older log gains it by the first append's schema merge
) USING DELTA
