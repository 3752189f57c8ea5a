-- One row per bank that has a policy (`neardup bank set`), beside `images`; each change is one Delta
-- commit. A bank without a row alerts at hashing.threshold. The stream reads the table again when its
-- version moves, so a change holds from the next micro-batch (docs/banks.md).
CREATE TABLE IF NOT EXISTS banks (
  name        STRING NOT NULL,     -- the bank's name, as on its `images` rows
  kind        STRING NOT NULL,     -- alert: its members raise alerts | allow: its near-copies raise none
  enabled     BOOLEAN NOT NULL,    -- false: its members match nothing
  threshold   INT,                 -- primary-hash distance its members match within; NULL: hashing.threshold
  labels      STRING,              -- free labels, comma-separated
  changed_by  STRING NOT NULL,     -- who made the last change (the user name)
  changed_at  TIMESTAMP NOT NULL
) USING DELTA
