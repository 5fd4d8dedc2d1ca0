"""File policy templates (PRODUCT.md 6.3): checks over the bucket inventory rather than activity."""

from __future__ import annotations

from policies.engine.spec import TYPE_FILE
from policies.templates.registry import Template, register_template


@register_template
class S3BucketPublic(Template):
    key = "file_s3_bucket_public"
    name = "S3 bucket is publicly accessible"
    description = (
        "A bucket whose ACL grants access to AllUsers or AuthenticatedUsers, or whose bucket policy is "
        "public, from the periodic scan of the bucket inventory. Governance offered: make private."
    )
    type = TYPE_FILE
    severity = "high"
    category = "Compliance"
    mitre_tactic = "Collection"
    mitre_technique = "T1530 Data from Cloud Storage"
    governance_actions = ("s3_make_private",)
