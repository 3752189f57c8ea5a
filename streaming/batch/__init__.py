"""Batch jobs over folders of images: hashing files, registering banks, dedup with a report."""
