"""`open_download` against a faked transport: how S3's refusals, short bodies and timeouts become errors of the
client's family, what Content-Disposition gives, and that the pre-signed URL shows up nowhere."""

from __future__ import annotations

import io
import traceback
from collections.abc import Iterator

import pytest
import requests
import responses

from webadmit_dash.webadmit import (
    Download,
    DownloadBroken,
    LinkExpired,
    NotFound,
    RequestRejected,
    UpstreamUnavailable,
    WebAdmitError,
    make_session,
    open_download,
)
from webadmit_dash.webadmit.download import file_name_from

SIGNATURE = "c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"
URL = (
    "https://webadmit-exports.s3.amazonaws.com/exports/29897/files/267520/Nightly.csv"
    f"?AWSAccessKeyId=AKIAEXAMPLE&Expires=1800000025&Signature={SIGNATURE}"
)
TIMEOUTS = {"connect_timeout": 2.0, "read_timeout": 5.0}
EXPIRED = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message>'
    "<Expires>2027-01-15T08:00:25Z</Expires><ServerTime>2027-01-15T08:00:31Z</ServerTime>"
    "<RequestId>4442587FB7D0A2F9</RequestId></Error>"
)


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with make_session() as pooled:
        yield pooled


def s3_error(code: str, message: str) -> str:
    return f"<?xml version='1.0' encoding='UTF-8'?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"


def assert_no_url(error: BaseException) -> None:
    """Neither the error nor an exception chained to it (which a traceback would print) holds the link."""
    printed = "".join(traceback.format_exception_only(error))
    for text in (str(error), repr(error), printed):
        assert SIGNATURE not in text and "Signature=" not in text and "/exports/29897" not in text
    assert error.__cause__ is None and error.__context__ is None


def opening_error(session: requests.Session) -> WebAdmitError:
    with pytest.raises(WebAdmitError) as raised:
        open_download(session, URL, **TIMEOUTS)
    assert_no_url(raised.value)
    return raised.value


@responses.activate
def test_a_whole_body_arrives_in_chunks_with_what_the_headers_say(session: requests.Session) -> None:
    body = b"CAS ID,First Name\r\n" + "1,José\r\n".encode("iso-8859-1") * 1000
    responses.get(
        URL,
        body=body,
        headers={
            "Content-Type": "text/csv;charset=iso-8859-1",
            "Content-Length": str(len(body)),
            "Content-Disposition": 'attachment; filename="Nightly Banner Export.csv"',
        },
    )

    with open_download(session, URL, chunk_size=1000, **TIMEOUTS) as download:
        chunks = list(download.chunks())

    assert b"".join(chunks) == body and max(map(len, chunks)) <= 1000 and len(chunks) > 5
    assert (download.content_type, download.length, download.received) == (
        "text/csv;charset=iso-8859-1",
        len(body),
        len(body),
    )
    assert download.file_name == "Nightly Banner Export.csv"
    assert SIGNATURE not in repr(download)


@responses.activate
def test_a_body_without_content_length_is_read_to_its_end(session: requests.Session) -> None:
    responses.get(URL, body=b"a,b\r\n", content_type="text/csv", auto_calculate_content_length=False)

    with open_download(session, URL, **TIMEOUTS) as download:
        assert b"".join(download.chunks()) == b"a,b\r\n"

    assert download.length is None and download.file_name is None


@responses.activate
def test_chunks_can_be_read_only_once(session: requests.Session) -> None:
    responses.get(URL, body=b"x" * 10, auto_calculate_content_length=True)

    with open_download(session, URL, **TIMEOUTS) as download:
        assert b"".join(download.chunks()) == b"x" * 10
        with pytest.raises(RuntimeError, match="only once"):
            list(download.chunks())


@responses.activate
def test_an_expired_link_is_link_expired_and_transient(session: requests.Session) -> None:
    responses.get(URL, body=EXPIRED, status=403, content_type="application/xml")

    error = opening_error(session)

    assert isinstance(error, LinkExpired)
    assert (error.permanent, error.kind, error.status_code) == (False, "link_expired", 403)
    assert "AccessDenied: Request has expired" in error.message and "new one" in error.message
    assert "webadmit-exports.s3.amazonaws.com" in error.message, "where it failed, without the path"


@responses.activate
def test_expired_temporary_credentials_are_link_expired_too(session: requests.Session) -> None:
    responses.get(URL, body=s3_error("ExpiredToken", "The provided token has expired."), status=400)

    assert isinstance(opening_error(session), LinkExpired)


@responses.activate
def test_another_403_is_permanent_with_s3s_words_on_one_line(session: requests.Session) -> None:
    message = "The request signature we calculated does not match\n the signature you provided."
    responses.get(URL, body=s3_error("SignatureDoesNotMatch", message), status=403)

    error = opening_error(session)

    assert isinstance(error, RequestRejected) and error.permanent and error.status_code == 403
    assert "SignatureDoesNotMatch: The request signature we calculated does not match the signature" in error.message
    assert "\n" not in error.message


@responses.activate
def test_a_missing_key_is_not_found(session: requests.Session) -> None:
    responses.get(URL, body=s3_error("NoSuchKey", "The specified key does not exist."), status=404)

    error = opening_error(session)

    assert isinstance(error, NotFound) and error.permanent
    assert error.upstream_message == "The specified key does not exist."


@pytest.mark.parametrize("status", [500, 503, 408])
@responses.activate
def test_server_errors_are_transient(session: requests.Session, status: int) -> None:
    responses.get(URL, body=s3_error("SlowDown", "Please reduce your request rate."), status=status)

    error = opening_error(session)

    assert type(error) is UpstreamUnavailable and not error.permanent and error.status_code == status


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (requests.ConnectionError(f"Max retries exceeded with url: {URL}"), "Could not connect"),
        (requests.exceptions.ConnectTimeout(f"timed out: {URL}"), "did not answer in time"),
        (requests.exceptions.ReadTimeout(f"read timed out: {URL}"), "did not answer in time"),
        (requests.exceptions.SSLError(f"bad certificate: {URL}"), "TLS"),
    ],
)
@responses.activate
def test_no_answer_is_upstream_unavailable(session: requests.Session, failure: Exception, words: str) -> None:
    responses.get(URL, body=failure)

    error = opening_error(session)

    assert type(error) is UpstreamUnavailable and words in error.message


def test_a_malformed_link_is_rejected_without_repeating_it(session: requests.Session) -> None:
    with pytest.raises(RequestRejected) as raised:
        open_download(session, f"webadmit-exports/exports/29897?Signature={SIGNATURE}", **TIMEOUTS)

    assert_no_url(raised.value)


@responses.activate
def test_a_body_shorter_than_its_content_length_is_broken(session: requests.Session) -> None:
    responses.get(URL, body=b"x" * 600, headers={"Content-Length": "1000"}, auto_calculate_content_length=False)
    received = 0

    with open_download(session, URL, chunk_size=100, **TIMEOUTS) as download, pytest.raises(DownloadBroken) as raised:
        for chunk in download.chunks():
            received += len(chunk)

    assert received == download.received == 600
    assert isinstance(raised.value, UpstreamUnavailable) and not raised.value.permanent
    assert raised.value.kind == "download_broken"
    assert_no_url(raised.value)


class _StallsAfter(io.RawIOBase):
    """A body that gives `data` and then times out, as a socket whose peer went quiet."""

    def __init__(self, data: bytes, failure: Exception) -> None:
        self._data = io.BytesIO(data)
        self._failure = failure

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._data.readinto(buffer)
        if count:
            return count
        raise self._failure


@pytest.mark.parametrize(
    ("failure", "words"),
    [(TimeoutError("timed out"), "a read timed out"), (ConnectionResetError(104, "reset"), "connection dropped")],
)
@responses.activate
def test_a_stream_that_stalls_or_drops_mid_way_is_broken(
    session: requests.Session, failure: Exception, words: str
) -> None:
    responses.get(
        URL,
        body=io.BufferedReader(_StallsAfter(b"y" * 500, failure)),
        headers={"Content-Length": "5000"},
        auto_calculate_content_length=False,
    )

    with open_download(session, URL, chunk_size=100, **TIMEOUTS) as download, pytest.raises(DownloadBroken) as raised:
        for _ in download.chunks():
            pass

    assert download.received == 500
    assert words in raised.value.message and "after 500 bytes" in raised.value.message
    assert_no_url(raised.value)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="Nightly Banner Export.csv"', "Nightly Banner Export.csv"),
        ("attachment; filename=plain.csv", "plain.csv"),
        ("attachment; filename*=UTF-8''D%C3%A9cisions%20d%E2%80%99admission.csv", "Décisions d\u2019admission.csv"),
        ("attachment; filename=\"fallback.csv\"; filename*=UTF-8''pr%C3%A9f%C3%A9r%C3%A9.csv", "préféré.csv"),
        # UTF-8 bytes that http.client decoded as Latin-1.
        ('attachment; filename="' + "Zoë.csv".encode().decode("latin-1") + '"', "Zoë.csv"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\x\\\\report.csv"', "report.csv"),
        ('attachment; filename="Roster\tof\x0bthe  week.csv"', "Roster of the week.csv"),
        ('attachment; filename="Roster\u202etxt.exe"', "Roster txt.exe"),
        ('attachment; filename="One\u2028Two.csv"', "One Two.csv"),
        ('attachment; filename=".."', None),
        ('attachment; filename=""', None),
        ("attachment", None),
        ("", None),
        (None, None),
    ],
)
def test_content_disposition_gives_a_clean_file_name(header: str | None, name: str | None) -> None:
    assert file_name_from(header) == name


def test_a_long_file_name_is_cut_short() -> None:
    assert len(file_name_from(f'attachment; filename="{"x" * 1000}.csv"') or "") == 255


def test_the_download_type_is_exported_with_the_client() -> None:
    assert Download.__module__ == "webadmit_dash.webadmit.download"
