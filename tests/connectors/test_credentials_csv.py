import pytest

from connectors.credentials_csv import CredentialsCsvError, parse_access_key_csv

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_console_layout_with_user_name_and_login_link():
    data = (
        "User name,Password,Access key ID,Secret access key,Console login link\n"
        f"defender,,{KEY},{SECRET},https://123456789012.signin.aws.amazon.com/console\n"
    ).encode()
    assert parse_access_key_csv(data) == (KEY, SECRET)


def test_newer_two_column_layout_with_byte_order_mark():
    data = f"\ufeffAccess key ID,Secret access key\r\n{KEY},{SECRET}\r\n".encode()
    assert parse_access_key_csv(data) == (KEY, SECRET)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"name,email\nbob,bob@example.com\n", "no 'Access key ID' and 'Secret access key' columns"),
        (b"Access key ID,Secret access key\n", "no key in it"),
        (f"Access key ID,Secret access key\n{KEY},{SECRET}\n{KEY},{SECRET}\n".encode(), "holds 2 rows"),
        (f"Access key ID,Secret access key\nnot-a-key,{SECRET}\n".encode(), "does not hold an access key ID"),
        (f"Access key ID,Secret access key\n{KEY},\n".encode(), "empty or malformed"),
        (b"\xff\xfe\x00binary", "not text"),
        (b"x" * 70000, "an access key .csv is under 1 KB"),
    ],
)
def test_wrong_files_say_what_was_expected(data, message):
    with pytest.raises(CredentialsCsvError, match=message) as error:
        parse_access_key_csv(data)
    assert "Access key ID" in str(error.value) or "access key" in str(error.value).lower()
