"""Reads the access-key .csv file that the AWS console offers when an access key is created."""

import csv
import io
import re

MAX_CSV_BYTES = 64 * 1024
ACCESS_KEY_ID = re.compile(r"^(AKIA|ASIA)[A-Z0-9]{12,124}$")
EXPECTED = (
    "Expected the .csv file that AWS offers when an access key is created, with the columns "
    "'Access key ID,Secret access key' (or 'User name,Password,Access key ID,Secret access key,"
    "Console login link')."
)


class CredentialsCsvError(ValueError):
    pass


def parse_access_key_csv(data: bytes) -> tuple[str, str]:
    """Return (access key ID, secret access key) from the file, or raise with what was expected."""
    if len(data) > MAX_CSV_BYTES:
        raise CredentialsCsvError(
            f"The file is {len(data):,} bytes; an access key .csv is under 1 KB. {EXPECTED}"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CredentialsCsvError(f"The file is not text. {EXPECTED}") from error
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise CredentialsCsvError(f"The file is empty. {EXPECTED}")
    header = [cell.strip().lower() for cell in rows[0]]
    if "access key id" not in header or "secret access key" not in header:
        raise CredentialsCsvError(
            f"The file has no 'Access key ID' and 'Secret access key' columns. {EXPECTED}"
        )
    if len(rows) < 2:
        raise CredentialsCsvError(f"The file has the columns but no key in it. {EXPECTED}")
    if len(rows) > 2:
        raise CredentialsCsvError(
            f"The file holds {len(rows) - 1} rows; upload the file of a single access key. {EXPECTED}"
        )
    values = rows[1] + [""] * len(header)
    key_id = values[header.index("access key id")].strip()
    secret = values[header.index("secret access key")].strip()
    if not ACCESS_KEY_ID.match(key_id):
        raise CredentialsCsvError(
            "The 'Access key ID' column does not hold an access key ID (20 characters starting with AKIA)."
        )
    if not secret or any(ch.isspace() for ch in secret):
        raise CredentialsCsvError("The 'Secret access key' column is empty or malformed.")
    return key_id, secret
