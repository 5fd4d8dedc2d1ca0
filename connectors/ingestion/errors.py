class TransientAwsError(Exception):
    """AWS throttled us, answered 5xx, or could not be reached even after botocore's retries:
    the task retries later with backoff, from the same checkpoint."""


class ConnectorBroken(Exception):
    """Credentials or permissions stopped working: the connector turns to `error`, no retry."""


class RegionNotEnabled(Exception):
    """An opt-in region the account has not enabled: skipped for a day, not an error."""
