"""Governance actions (PRODUCT.md 8): one class per action, registered by key in ``registry``.

Targets: bucket actions take the bucket name; user actions take the IAM user's ARN
(``arn:aws:iam::<account>:user/<path><name>``) or its bare user name, both accepted everywhere (the
confirmation URL, the API, automatic runs). Entra ID users are reached through the principal: a
principal that maps to a directory user synchronized from Entra ID is acted on in Entra ID.
"""
