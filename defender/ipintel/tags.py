"""Stable names other layers rely on: the anomaly detectors match activities on these tags and on the
``risky`` category, so they are contracts (PRODUCT.md section 6.2). No Django imports here."""

TOR_EXIT_NODE = "Tor exit node"
ANONYMOUS_PROXY = "Anonymous proxy"
ANONYMIZING_VPN = "Anonymizing VPN"
BOTNET = "Botnet"
SCANNER = "Scanner"
PASSWORD_SPRAY = "Password spray"

# ThreatFeed.Kind value -> the tag every entry of a feed of that kind carries, whatever the feed's own
# tag says ("other" feeds carry only their own tag).
KIND_TAGS: dict[str, str] = {
    "tor_exit_nodes": TOR_EXIT_NODE,
    "anonymous_proxy": ANONYMOUS_PROXY,
    "anonymizing_vpn": ANONYMIZING_VPN,
    "botnet": BOTNET,
    "scanner": SCANNER,
    "password_spray": PASSWORD_SPRAY,
}

# Activity from these hides who is behind it (anomaly_anonymous_ip).
ANONYMIZER_TAGS = frozenset({TOR_EXIT_NODE, ANONYMOUS_PROXY, ANONYMIZING_VPN})
# Listed by threat intelligence as malicious (anomaly_suspicious_ip).
SUSPICIOUS_TAGS = frozenset({BOTNET, SCANNER, PASSWORD_SPRAY})

# An address in a feed of one of these kinds is categorized risky unless a range says otherwise.
RISKY_KINDS = frozenset({"botnet", "scanner", "password_spray"})

CATEGORY_RISKY = "risky"
CATEGORY_CORPORATE = "corporate"
