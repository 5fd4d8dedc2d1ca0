"""Where the scenario's people and attackers are: real public IPv4 addresses and what the bundled
GeoLite2 City database says about them (tests assert every row against the database, so the
detectors' geography - home countries, impossible travel, new countries - is the one the product sees).

UTC offsets are standard time on purpose: daylight saving would make the events depend on the host's
tz database, and the scenario must be byte-identical everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class City:
    name: str  # GeoLite2's English city name
    country: str  # ISO 3166 code, as GeoLite2 reports it
    utc_offset: float  # hours, standard time
    latitude: float
    longitude: float
    ips: tuple[str, ...]  # residential / business addresses that GeoLite2 places in this city


CITIES: dict[str, City] = {
    city.name: city
    for city in (
        City(
            "Seoul",
            "KR",
            9,
            37.60,
            126.98,
            (
                "1.239.196.38",
                "58.102.112.49",
                "61.78.76.60",
                "112.222.16.71",
                "119.196.208.82",
                "121.161.48.93",
                "125.128.56.104",
                "175.193.212.115",
                "183.98.0.126",
                "211.55.96.137",
            ),
        ),
        City("Busan", "KR", 9, 35.10, 129.04, ("59.20.80.38", "124.51.136.49", "211.220.48.60")),
        City(
            "Tokyo",
            "JP",
            9,
            35.69,
            139.75,
            (
                "39.3.152.38",
                "61.25.192.49",
                "113.197.152.60",
                "118.159.224.71",
                "122.219.56.82",
                "126.7.216.93",
            ),
        ),
        City("Osaka", "JP", 9, 34.69, 135.52, ("111.105.8.38", "126.4.180.49", "202.241.184.60")),
        City(
            "Singapore",
            "SG",
            8,
            1.29,
            103.86,
            ("58.182.64.38", "116.88.128.49", "165.21.20.60", "203.126.20.71"),
        ),
        City("Sydney", "AU", 10, -33.86, 151.20, ("103.97.220.38", "129.94.168.49", "203.35.152.60")),
        City(
            "London", "GB", 0, 51.51, -0.09, ("31.73.76.38", "87.83.40.49", "130.32.32.60", "193.201.132.71")
        ),
        City("Dublin", "IE", 0, 53.33, -6.25, ("79.97.72.38", "89.100.20.49", "134.226.0.60")),
        City("Paris", "FR", 1, 48.86, 2.38, ("81.57.116.38", "88.160.248.49", "145.238.160.60")),
        City("Berlin", "DE", 1, 52.52, 13.41, ("78.51.212.38", "88.76.88.49", "141.45.64.60")),
        City("Frankfurt am Main", "DE", 1, 50.10, 8.54, ("79.243.64.38", "88.152.124.49", "178.202.232.60")),
        City("Munich", "DE", 1, 48.16, 11.64, ("79.218.124.38", "92.194.160.49", "178.27.132.60")),
        City("Amsterdam", "NL", 1, 52.38, 4.92, ("80.61.80.38", "92.109.220.49", "185.47.236.60")),
        City("Madrid", "ES", 1, 40.42, -3.68, ("62.36.56.38", "85.53.120.49", "176.84.164.60")),
        City("Stockholm", "SE", 1, 59.33, 18.05, ("80.216.176.38", "88.129.192.49", "193.11.92.60")),
        City("Warsaw", "PL", 1, 52.20, 20.93, ("79.133.196.38", "89.70.192.49", "185.33.36.60")),
        City("Bucharest", "RO", 2, 44.43, 26.10, ("82.76.176.38", "89.33.20.49", "188.25.96.60")),
        City(
            "New York",
            "US",
            -5,
            40.77,
            -73.99,
            ("50.74.116.38", "69.86.96.49", "98.142.120.60", "184.153.32.71"),
        ),
        City("Boston", "US", -5, 42.35, -71.07, ("71.174.128.38", "73.238.220.49", "146.243.84.60")),
        City("Chicago", "US", -6, 41.85, -87.67, ("67.167.208.38", "98.213.160.49", "136.30.68.60")),
        City("Austin", "US", -6, 30.42, -97.80, ("70.113.16.38", "129.117.0.49", "205.165.120.60")),
        City("Seattle", "US", -8, 47.63, -122.30, ("63.249.16.38", "73.118.228.49", "140.142.208.60")),
        City("San Francisco", "US", -8, 37.80, -122.44, ("65.173.252.38", "76.126.172.49", "148.64.96.60")),
        City("Vancouver", "CA", -8, 49.30, -123.14, ("24.86.204.38", "96.49.208.49", "192.139.120.60")),
        City("Toronto", "CA", -5, 43.67, -79.42, ("69.158.160.38", "99.230.176.49", "174.95.48.60")),
        City("São Paulo", "BR", -3, -23.57, -46.64, ("177.140.224.38", "187.121.32.49", "200.161.48.60")),
        City("Taipei", "TW", 8, 25.05, 121.53, ("42.72.128.38", "114.36.176.49", "182.235.64.60")),
        City("Mumbai", "IN", 5.5, 18.98, 72.83, ("49.32.136.38", "115.110.96.49", "182.58.216.60")),
        City("Bengaluru", "IN", 5.5, 12.98, 77.58, ("61.12.64.38", "117.192.108.49", "123.201.48.60")),
        City("Melbourne", "AU", 10, -37.83, 144.97, ("49.255.208.38", "131.170.96.49", "203.166.240.60")),
    )
}


@dataclass(frozen=True)
class IpRange:
    """A range for ip_ranges.json (the product's IP address ranges: section 10)."""

    name: str
    category: str  # corporate / administrative / cloud_provider / vpn / risky / other
    cidrs: tuple[str, ...]
    tags: tuple[str, ...]
    description: str
    ips: tuple[str, ...]  # the addresses of the range that the scenario uses
    city: str | None  # where GeoLite2 puts those addresses (None: country only)
    country: str | None

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "category": self.category,
            "cidrs": list(self.cidrs),
            "tags": list(self.tags),
            "description": self.description,
        }


OFFICE = IpRange(
    name="Hanbit HQ Seoul office",
    category="corporate",
    cidrs=("125.130.148.0/24",),
    tags=("office", "hq"),
    description="Egress of the Seoul headquarters network; engineers in the office and the backup server.",
    ips=("125.130.148.21", "125.130.148.22", "125.130.148.35"),
    city="Seoul",
    country="KR",
)
VPN = IpRange(
    name="Hanbit corporate VPN",
    category="vpn",
    cidrs=("93.211.63.0/24",),
    tags=("vpn", "remote-access"),
    description="Egress of the remote-access VPN (hosted in Frankfurt) used by staff working from home.",
    ips=("93.211.63.17", "93.211.63.18"),
    city="Frankfurt am Main",
    country="DE",
)
CLOUD_NAT = IpRange(
    name="Hanbit VPC NAT gateways",
    category="cloud_provider",
    cidrs=("52.4.212.32/28", "34.240.17.80/28"),
    tags=("aws", "nat-gateway", "automation"),
    description="Elastic IPs of the NAT gateways that CI, Terraform and the legacy build user run behind.",
    ips=("52.4.212.37", "34.240.17.89"),
    city=None,
    country=None,
)
RISKY = IpRange(
    name="Abusive hosting provider (SOC block list)",
    category="risky",
    cidrs=("91.240.118.0/24",),
    tags=("abuse", "bulletproof-hosting"),
    description="A hosting range the SOC saw in phishing and credential-stuffing campaigns.",
    ips=("91.240.118.172",),
    city=None,
    country="NL",
)
IP_RANGES = (OFFICE, VPN, CLOUD_NAT, RISKY)

# The NAT gateways' addresses, for each region the automation runs in.
NAT_IP = {"us-east-1": "52.4.212.37", "eu-west-1": "34.240.17.89"}

# Attackers. The Tor exit and the botnet address also appear in the threat feeds written next to the
# events; the crypto-mining VPS and the Bucharest address deliberately appear in no list.
TOR_EXIT_IP = "185.220.101.47"
BOTNET_IP = "89.248.165.52"
MINER_IP = "188.166.43.117"
TRAVEL_ATTACKER_IP = "82.76.176.38"  # Bucharest, RO: first address of the Bucharest row above

TOR_EXIT_NODES = (
    "185.220.100.241",
    "185.220.101.9",
    "185.220.101.33",
    TOR_EXIT_IP,
    "185.220.102.8",
    "109.70.100.19",
    "171.25.193.25",
    "192.42.116.16",
    "199.249.230.87",
    "204.8.96.101",
)
BOTNET_NODES = (
    "80.94.95.115",
    BOTNET_IP,
    "141.98.11.155",
    "193.142.146.212",
    "45.141.215.88",
)

# Expected GeoLite2 answers for the special addresses: (city or None, country or None).
SPECIAL_IPS: dict[str, tuple[str | None, str | None]] = {
    **{ip: (r.city, r.country) for r in IP_RANGES for ip in r.ips if r is not CLOUD_NAT},
    "52.4.212.37": ("Ashburn", "US"),
    "34.240.17.89": ("Dublin", "IE"),
    TOR_EXIT_IP: (None, "DE"),
    BOTNET_IP: (None, "SC"),
    MINER_IP: ("Amsterdam", "NL"),
    TRAVEL_ATTACKER_IP: ("Bucharest", "RO"),
}
