"""An S3 destination (AWS or any S3-compatible store: MinIO, Wasabi, Ceph), through boto3's low-level calls.

No temporary key is needed: S3 makes an object visible only once its upload completes, whole, so a reader never sees
a partial file and a crashed try leaves nothing under the key (an unfinished multipart upload is aborted, or expires
by the bucket's lifecycle rule). `IfNoneMatch="*"` on `put_object` and `complete_multipart_upload` makes S3 itself
refuse to overwrite (412): boto3's managed transfer refuses that argument, so the calls are made here by hand.

The SHA-256 travels with the bytes (`ChecksumSHA256`, per part for a multipart upload), so real S3 rejects an upload
damaged on the way; it is also kept in the object's metadata (`sha256`), which is how a later try recognises its own
file. After the upload, `head_object` is compared with what was sent: the size, and the checksum S3 reports. moto
echoes a single upload's checksum without checking it (RECIPES.md), and computes a multipart one from the parts.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions

from webadmit_dash.collection.destinations.base import (
    DeliveryFailed,
    Payload,
    Receipt,
    Refused,
    Transient,
    check_sent,
    read_payload,
    rechunk,
)

if TYPE_CHECKING:
    from types_boto3_s3.client import S3Client

# A payload up to this size goes in one put_object; larger ones in parts of this size (S3's minimum part is 5 MiB;
# at most two parts are held at once, so memory stays flat with file size).
PART_SIZE = 8 * 1024 * 1024

# The caller retries with backoff over an hour; boto3 itself only smooths over a blip.
_CLIENT_CONFIG = botocore.config.Config(
    connect_timeout=20, read_timeout=120, retries={"mode": "standard", "total_max_attempts": 2}
)

_REFUSALS = {
    "InvalidAccessKeyId": "the access key ID is not known to the server",
    "SignatureDoesNotMatch": "the secret access key was refused (the request's signature does not match)",
    "AccessDenied": "access was denied",
    "403": "access was denied",
    "AllAccessDisabled": "access to the bucket is disabled",
    "NoSuchBucket": "the bucket does not exist",
    "InvalidBucketName": "the bucket's name is not valid",
    "AuthorizationHeaderMalformed": "the server refused the credentials or region",
    "PermanentRedirect": "the bucket is in another region or at another endpoint",
}
_TRANSIENT_CODES = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "InternalError",
    "ServiceUnavailable",
    "BadDigest",
    "XAmzContentSHA256Mismatch",
    "ConditionalRequestConflict",
}


class S3Destination:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        endpoint_url: str | None,
        region: str,
        access_key_id: str,
        secret_access_key: str,
    ) -> None:
        if not bucket:
            raise ValueError("an S3 destination needs a bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url or None
        self.region = region
        self.access_key_id = access_key_id
        self._secret_access_key = secret_access_key

    def __repr__(self) -> str:
        return f"S3Destination({self.describe()!r})"

    def describe(self) -> str:
        where = f"S3 s3://{self.bucket}/{self.prefix + '/' if self.prefix else ''}"
        if self.endpoint_url:
            # hostname and port only: an endpoint URL could carry user:password@.
            parts = urlsplit(self.endpoint_url)
            where += f" at {parts.hostname}{f':{parts.port}' if parts.port else ''}"
        return where

    def key_for(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def deliver(self, payload: Payload) -> Receipt:
        upload = _Upload(self, self._client(), payload)
        try:
            return upload.run()
        except DeliveryFailed:
            raise
        except botocore.exceptions.ClientError as error:
            raise _client_failure(upload.where, error) from None
        except (botocore.exceptions.NoCredentialsError, botocore.exceptions.ParamValidationError) as error:
            raise Refused(f"{upload.where}: {error}") from None
        except botocore.exceptions.BotoCoreError as error:
            # Connection refused or reset, timeouts, a half-read answer: the server may be back soon.
            raise Transient(f"{upload.where}: {error}") from None

    def _client(self) -> S3Client:
        # A session of its own: boto3's default session is not safe to share between threads.
        session = boto3.session.Session()
        return session.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self._secret_access_key,
            config=_CLIENT_CONFIG,
        )


class _Upload:
    """One delivery through one client."""

    def __init__(self, destination: S3Destination, client: S3Client, payload: Payload) -> None:
        self.destination = destination
        self.client = client
        self.payload = payload
        self.bucket = destination.bucket
        self.key = destination.key_for(payload.name)
        self.remote_name = f"s3://{self.bucket}/{self.key}"
        self.where = f"{payload.name} was not delivered to {destination.describe()}"

    def run(self) -> Receipt:
        try:
            existing = self._head()
        except botocore.exceptions.ClientError as error:
            # A bare 403 (HEAD answers carry no reason): wrong credentials, or a drop box's write-only ones. The
            # upload below says which, and refuses to overwrite by itself.
            if _code(error) != "403":
                raise
            existing = None
        if existing is not None:
            return self._compare_existing(existing)
        expected_checksum = self._put_whole() if self.payload.size <= PART_SIZE else self._put_in_parts()
        if expected_checksum is None:  # S3 refused to overwrite: a file came under the key meanwhile
            existing = self._head_if_readable()
            if existing is None:
                raise Refused(
                    f"{self.where}: a file named {self.payload.name} is already in {self._folder()}, and it cannot "
                    f"be read to compare it; it was left untouched"
                )
            return self._compare_existing(existing)
        return self._verify(expected_checksum)

    def _folder(self) -> str:
        return f"s3://{self.bucket}/{self.destination.prefix}"

    def _head_if_readable(self) -> Mapping[str, Any] | None:
        try:
            return self._head()
        except botocore.exceptions.ClientError as error:
            if _code(error) == "403":
                return None
            raise

    def _head(self) -> Mapping[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key, ChecksumMode="ENABLED")
        except botocore.exceptions.ClientError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _put_whole(self) -> str | None:
        """One put_object; the checksum S3 should report, or None when the key already exists."""
        with read_payload(self.payload) as sent:
            body = b"".join(sent)  # at most PART_SIZE
        check_sent(self.payload, sent, self.destination.describe())
        checksum = base64.b64encode(sent.digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=body,
                IfNoneMatch="*",
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
                Metadata={"sha256": self.payload.sha256},
            )
        except botocore.exceptions.ClientError as error:
            if _is_precondition_failed(error):
                return None
            raise
        return checksum

    def _put_in_parts(self) -> str | None:
        """A multipart upload, aborted on any failure; the composite checksum S3 should report (the SHA-256 of the
        parts' SHA-256s; S3 adds "-" and their count), or None when the key already exists."""
        started = self.client.create_multipart_upload(
            Bucket=self.bucket, Key=self.key, ChecksumAlgorithm="SHA256", Metadata={"sha256": self.payload.sha256}
        )
        upload_id = started["UploadId"]
        completed = False
        try:
            parts: list[dict[str, Any]] = []
            part_digests = hashlib.sha256()
            with read_payload(self.payload) as sent:
                for number, part in enumerate(rechunk(sent, PART_SIZE), start=1):
                    digest = hashlib.sha256(part).digest()
                    part_digests.update(digest)
                    checksum = base64.b64encode(digest).decode()
                    answer = self.client.upload_part(
                        Bucket=self.bucket,
                        Key=self.key,
                        UploadId=upload_id,
                        PartNumber=number,
                        Body=part,
                        ChecksumSHA256=checksum,
                    )
                    parts.append({"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum})
            check_sent(self.payload, sent, self.destination.describe())
            try:
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                    IfNoneMatch="*",
                )
            except botocore.exceptions.ClientError as error:
                if _is_precondition_failed(error):
                    return None
                raise
            completed = True
            return base64.b64encode(part_digests.digest()).decode()
        finally:
            if not completed:
                self._abort(upload_id)

    def _abort(self, upload_id: str) -> None:
        # If this fails too, the bucket's lifecycle rule for unfinished uploads cleans up what is left.
        with contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=upload_id)

    def _verify(self, expected_checksum: str) -> Receipt:
        try:
            head = self._head()
        except botocore.exceptions.ClientError as error:
            if _code(error) != "403":
                raise
            # Write-only credentials: S3 checked the SHA-256 sent with the bytes, but we cannot see it ourselves.
            return Receipt(remote_name=self.remote_name, checksum_verified=False, already_there=False)
        problem = None
        if head is None:
            problem = "it is not there after the upload"
        elif head.get("ContentLength") != self.payload.size:
            problem = f"the server holds {head.get('ContentLength'):,} bytes of it after the upload"
        elif (reported := _reported_checksum(head)) is not None and reported[0] != expected_checksum:
            problem = "the server's SHA-256 of it does not match what was sent (a checksum mismatch after upload)"
        if problem is not None:
            # The key is ours (IfNoneMatch): removing the bad copy lets the next try upload it again.
            self.client.delete_object(Bucket=self.bucket, Key=self.key)
            raise Transient(f"{self.where}: {problem}")
        assert head is not None
        return Receipt(
            remote_name=self.remote_name, checksum_verified=_reported_checksum(head) is not None, already_there=False
        )

    def _compare_existing(self, head: Mapping[str, Any]) -> Receipt:
        """The object under the key is ours when its size matches and its SHA-256 (the full-object checksum S3
        reports, or else the one our upload kept in its metadata) is the payload's."""
        same_size = head.get("ContentLength") == self.payload.size
        reported = _reported_checksum(head)
        checksum_verified = reported is not None and reported[0] == self._expected_checksum(composite=reported[1])
        recorded = head.get("Metadata", {}).get("sha256")
        if same_size and (checksum_verified or recorded == self.payload.sha256):
            return Receipt(remote_name=self.remote_name, checksum_verified=checksum_verified, already_there=True)
        raise Refused(
            f"{self.where}: a different file named {self.payload.name} is already in {self._folder()}; "
            "it was left untouched"
        )

    def _expected_checksum(self, *, composite: bool) -> str:
        """What S3 would report for the payload: its SHA-256, or for a multipart upload the SHA-256 of its parts'
        (which needs the payload read again, in parts)."""
        if not composite:
            return base64.b64encode(bytes.fromhex(self.payload.sha256)).decode()
        part_digests = hashlib.sha256()
        with read_payload(self.payload) as chunks:
            for part in rechunk(chunks, PART_SIZE):
                part_digests.update(hashlib.sha256(part).digest())
        return base64.b64encode(part_digests.digest()).decode()


def _reported_checksum(head: Mapping[str, Any]) -> tuple[str, bool] | None:
    """The SHA-256 S3 reports for an object, without a "-N" suffix, and whether it is composite (of a multipart
    upload's parts: its ETag ends with "-N"; moto leaves the suffix off the checksum itself)."""
    reported = head.get("ChecksumSHA256")
    if not reported:
        return None
    value, dash, _ = str(reported).partition("-")
    composite = bool(dash) or head.get("ChecksumType") == "COMPOSITE" or "-" in str(head.get("ETag", ""))
    return value, composite


def _code(error: botocore.exceptions.ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _is_precondition_failed(error: botocore.exceptions.ClientError) -> bool:
    return (
        _code(error) == "PreconditionFailed" or error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 412
    )


def _client_failure(where: str, error: botocore.exceptions.ClientError) -> DeliveryFailed:
    code = _code(error)
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    if code in _REFUSALS:
        return Refused(f"{where}: {_REFUSALS[code]} ({code})")
    if code in _TRANSIENT_CODES or status >= 500 or status == 429:
        return Transient(f"{where}: the server answered {code or status}, which may pass")
    return Refused(f"{where}: the server refused the upload ({code or status})")
