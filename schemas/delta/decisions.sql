-- One row per decision a person made on the review page (`neardup review`), each appended in a Delta
-- commit of its own; no row is ever updated or deleted, so the table is also the audit trail. A pair's
-- standing decision is its latest one not undone; the stream suppresses the alerts of every pair whose
-- standing decision is not_duplicate, from the micro-batch after the commit.
CREATE TABLE IF NOT EXISTS decisions (
  decision_id  STRING NOT NULL,      -- random hex, unique
  image_id     STRING NOT NULL,      -- the alert's image
  match_id     STRING NOT NULL,      -- the image it matched (the pair is unordered: either way round)
  alert_id     STRING,               -- the alert the decision was made on
  verdict      STRING NOT NULL,      -- duplicate | not_duplicate | undo
  bank         STRING,               -- duplicate: the bank the match was added to, if one was chosen
  undoes       STRING,               -- undo: the decision_id it takes back
  reviewer     STRING NOT NULL,      -- who decided (review.reviewer, else the server's user name)
  decided_at   TIMESTAMP NOT NULL
) USING DELTA
