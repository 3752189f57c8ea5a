"""The Delta hash index and the ways to search it: multi-index hashing (bands), in memory or in
Spark, verified exactly on the full hash. Pure numpy in bands, sorted_bands and pairs; Spark in
table, match, resident and join."""
