"""Bringing CloudTrail activity in: readers (LookupEvents, S3 trail files, file import), the pure
normalization of one record into an Activity's fields, and the idempotent store."""
