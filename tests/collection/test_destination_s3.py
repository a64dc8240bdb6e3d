"""The S3 destination against the S3 API over HTTP (moto's threaded server): delivered once under the key, never
overwriting (S3's own IfNoneMatch), verified, and each fault told apart."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import boto3
import moto.settings
import pytest
from moto.core.authorization import ActionAuthenticatorMixin

from tests.collection.destination_payloads import Opened, payload_of
from tests.support.s3_server import S3Server, running_s3
from tests.support.waiting import free_port
from webadmit_dash.collection.destinations.base import Refused, Transient
from webadmit_dash.collection.destinations.s3 import PART_SIZE, S3Destination

DATA = b"id,name\n" + b"1,Ada\n" * 10_000


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with running_s3() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> str:
    # moto's backends are shared by every server in the process: a bucket of the test's own.
    name = f"outbox-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(name)
    return name


def destination(s3: S3Server, bucket: str, **overrides: str | None) -> S3Destination:
    settings: dict[str, str | None] = {
        "endpoint_url": s3.endpoint_url,
        "access_key_id": s3.access_key_id,
        "secret_access_key": s3.secret_access_key,
    }
    settings.update(overrides)
    return S3Destination(bucket, "slate/incoming/", region=s3.region, **settings)  # type: ignore[arg-type]


def stored(s3: S3Server, bucket: str, key: str) -> bytes:
    return s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]


def keys(s3: S3Server, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_it_delivers_under_the_key_and_verifies_it(s3: S3Server, bucket: str) -> None:
    receipt = destination(s3, bucket).deliver(payload_of("export.csv", DATA))

    assert receipt.remote_name == f"s3://{bucket}/slate/incoming/export.csv"
    assert receipt.checksum_verified
    assert not receipt.already_there
    assert keys(s3, bucket) == ["slate/incoming/export.csv"]
    assert stored(s3, bucket, "slate/incoming/export.csv") == DATA
    head = s3.client().head_object(Bucket=bucket, Key="slate/incoming/export.csv")
    assert head["Metadata"] == {"sha256": hashlib.sha256(DATA).hexdigest()}


def test_the_same_bytes_again_are_already_there_and_nothing_is_uploaded(s3: S3Server, bucket: str) -> None:
    destination(s3, bucket).deliver(payload_of("export.csv", DATA))
    first = s3.client().head_object(Bucket=bucket, Key="slate/incoming/export.csv")["LastModified"]
    opened = Opened()

    receipt = destination(s3, bucket).deliver(payload_of("export.csv", DATA, opened=opened))

    assert receipt.already_there
    assert receipt.checksum_verified
    assert opened.count == 0
    assert s3.client().head_object(Bucket=bucket, Key="slate/incoming/export.csv")["LastModified"] == first


def test_a_different_file_under_the_key_is_refused_and_left_untouched(s3: S3Server, bucket: str) -> None:
    s3.client().put_object(Bucket=bucket, Key="slate/incoming/export.csv", Body=bytes(len(DATA)))

    with pytest.raises(Refused) as refused:
        destination(s3, bucket).deliver(payload_of("export.csv", DATA))

    assert "a different file named export.csv is already in" in refused.value.message
    assert stored(s3, bucket, "slate/incoming/export.csv") == bytes(len(DATA))


def test_a_file_arriving_under_the_key_during_the_upload_is_not_overwritten(s3: S3Server, bucket: str) -> None:
    """The check before the upload saw nothing; S3's own IfNoneMatch refuses the put, and the file stays."""
    client = s3.client()

    def open_and_race() -> Iterator[Iterator[bytes]]:
        client.put_object(Bucket=bucket, Key="slate/incoming/export.csv", Body=b"the racer's file")
        yield iter([DATA])

    racing = dataclasses.replace(payload_of("export.csv", DATA), open=contextmanager(open_and_race))

    with pytest.raises(Refused, match=r"a different file named export\.csv"):
        destination(s3, bucket).deliver(racing)

    assert stored(s3, bucket, "slate/incoming/export.csv") == b"the racer's file"


def test_a_crashed_tries_unfinished_upload_leaves_no_file_and_the_file_is_delivered_once(
    s3: S3Server, bucket: str
) -> None:
    client = s3.client()
    crashed = client.create_multipart_upload(Bucket=bucket, Key="slate/incoming/export.csv")
    client.upload_part(
        Bucket=bucket, Key="slate/incoming/export.csv", UploadId=crashed["UploadId"], PartNumber=1, Body=b"half"
    )
    assert keys(s3, bucket) == []  # S3 shows an object only once its upload completes: no temporary key needed

    receipt = destination(s3, bucket).deliver(payload_of("export.csv", DATA))

    assert not receipt.already_there
    assert stored(s3, bucket, "slate/incoming/export.csv") == DATA


def test_a_multipart_delivery_is_verified_and_recognised_on_a_retry(s3: S3Server, bucket: str) -> None:
    data = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(20 * 1024 * 1024 // 32))
    payload = payload_of("big.bin", data)

    receipt = destination(s3, bucket).deliver(payload)

    assert receipt.checksum_verified
    head = s3.client().head_object(Bucket=bucket, Key="slate/incoming/big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].endswith('-3"')  # 8 + 8 + 4 MiB
    assert stored(s3, bucket, "slate/incoming/big.bin") == data
    again = destination(s3, bucket).deliver(payload)
    assert again.already_there and again.checksum_verified


def test_a_multipart_upload_that_fails_is_aborted(s3: S3Server, bucket: str) -> None:
    data = bytes(PART_SIZE + 1024)
    wrong = payload_of("big.bin", data, sha256=hashlib.sha256(b"something else").hexdigest())

    with pytest.raises(Refused, match="do not match its recorded size"):
        destination(s3, bucket).deliver(wrong)

    assert keys(s3, bucket) == []
    assert s3.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_missing_bucket_is_refused(s3: S3Server) -> None:
    with pytest.raises(Refused) as refused:
        destination(s3, "no-such-bucket-here").deliver(payload_of("export.csv", DATA))

    assert refused.value.message == (
        f"export.csv was not delivered to S3 s3://no-such-bucket-here/slate/incoming/ at 127.0.0.1:"
        f"{s3.endpoint_url.rsplit(':', 1)[1]}: the bucket does not exist (NoSuchBucket)"
    )


def test_an_endpoint_down_is_transient() -> None:
    port = free_port()
    down = S3Destination(
        "outbox",
        "",
        endpoint_url=f"http://127.0.0.1:{port}",
        region="us-east-1",
        access_key_id="key-id",
        secret_access_key="the-secret",
    )

    with pytest.raises(Transient) as transient:
        down.deliver(payload_of("export.csv", DATA))

    assert transient.value.message.startswith(
        f"export.csv was not delivered to S3 s3://outbox/ at 127.0.0.1:{port}: Could not connect to the endpoint URL"
    )


@pytest.fixture
def enforced_credentials(s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """An IAM user allowed everything, then moto checks every request's signature (by default it accepts any)."""
    return _enforced(s3, monkeypatch, actions="*")


def _enforced(s3: S3Server, monkeypatch: pytest.MonkeyPatch, *, actions: str | list[str]) -> tuple[str, str]:
    iam = boto3.client(
        "iam",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
    )
    user = f"delivery-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    allowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="allowed", PolicyDocument=json.dumps(allowed))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
    return key["AccessKeyId"], key["SecretAccessKey"]


def test_the_right_credentials_are_accepted_where_they_are_checked(
    s3: S3Server, bucket: str, enforced_credentials: tuple[str, str]
) -> None:
    key_id, secret = enforced_credentials

    receipt = destination(s3, bucket, access_key_id=key_id, secret_access_key=secret).deliver(
        payload_of("export.csv", DATA)
    )

    assert not receipt.already_there


def test_a_wrong_secret_is_refused_and_not_said(
    s3: S3Server, bucket: str, enforced_credentials: tuple[str, str]
) -> None:
    key_id, _ = enforced_credentials
    wrong = destination(s3, bucket, access_key_id=key_id, secret_access_key="not-the-secret-at-all")

    with pytest.raises(Refused) as refused:
        wrong.deliver(payload_of("export.csv", DATA))

    assert "the secret access key was refused" in refused.value.message
    assert "(SignatureDoesNotMatch)" in refused.value.message
    assert "not-the-secret-at-all" not in repr(wrong) + str(refused.value) + repr(refused.value)


def test_an_unknown_access_key_is_refused(s3: S3Server, bucket: str, enforced_credentials: tuple[str, str]) -> None:
    unknown = destination(s3, bucket, access_key_id="AKIAUNKNOWNUNKNOWN00", secret_access_key="whatever")

    with pytest.raises(Refused, match=r"the access key ID is not known to the server \(InvalidAccessKeyId\)"):
        unknown.deliver(payload_of("export.csv", DATA))


def test_write_only_credentials_deliver_without_reading_back(
    s3: S3Server, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drop box's credentials often may only put: HEAD answers 403, and the delivery goes on without it."""
    key_id, secret = _enforced(s3, monkeypatch, actions=["s3:PutObject"])

    receipt = destination(s3, bucket, access_key_id=key_id, secret_access_key=secret).deliver(
        payload_of("export.csv", DATA)
    )

    assert not receipt.checksum_verified
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    assert stored(s3, bucket, "slate/incoming/export.csv") == DATA
