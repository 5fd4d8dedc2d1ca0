"""IP intelligence: offline GeoIP (geo), named IP address ranges and threat feeds (services), and the
classifier that enriches every activity at ingest (classify).

Nothing here imports the apps above defender; ingestion calls ``IpClassifier.load()`` once per batch
and ``enrich(fields, classifier)`` per activity.
"""
