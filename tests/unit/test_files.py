"""nexus.files: what a presigned URL signs, the download's Content-Disposition, object keys,
and the product models' file rules. Presigning is local: nothing here reaches S3."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from pydantic import TypeAdapter, ValidationError

from nexus import aws, files
from nexus.errors import ServiceUnavailable
from nexus.products.models import ContentType, FileName, FileUploadIn
from nexus.settings import get_settings, load_settings

PRODUCT = "de300000-0000-4000-8001-000000000001"


@pytest.fixture(autouse=True)
def _aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # us-east-1 is a region where botocore would presign with SigV2 by default.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("FILES_BUCKET", "nexus-files-test")
    get_settings.cache_clear()
    aws.cache_clear()
    yield
    aws.cache_clear()
    get_settings.cache_clear()


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_upload_url_is_sigv4_and_signs_type_and_length() -> None:
    signed = files.upload("products/p/u/a.pdf", content_type="application/pdf", size=1234)
    query = _query(signed.url)
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-SignedHeaders"] == "content-length;content-type;host"
    assert query["X-Amz-Expires"] == "900"
    assert "Signature" not in query  # no SigV2 query authentication
    assert signed.headers == {"Content-Type": "application/pdf", "Content-Length": "1234"}
    assert signed.expires_in == 900
    # Regional and virtual-hosted: the origin the web app's CSP names (template.yaml)
    assert urlsplit(signed.url).hostname == "nexus-files-test.s3.us-east-1.amazonaws.com"


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_on_aws_urls_name_the_buckets_regional_endpoint(
    monkeypatch: pytest.MonkeyPatch, region: str
) -> None:
    # The global endpoint (<bucket>.s3.amazonaws.com) redirects for a new bucket outside
    # us-east-1, which a browser's CORS preflight does not follow.
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    aws.cache_clear()
    upload = urlsplit(files.upload("k", content_type="text/plain", size=1).url)
    download = urlsplit(files.download_url("k", "a.txt"))
    expected = f"nexus-files-test.s3.{region}.amazonaws.com"
    assert (upload.scheme, upload.hostname, upload.path) == ("https", expected, "/k")
    assert download.hostname == expected
    assert f"/{region}/s3/aws4_request" in _query(upload.geturl())["X-Amz-Credential"]


def test_with_an_endpoint_of_its_own_the_url_is_that_endpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The local stack (and the CSP's local connect-src): the endpoint's origin, path style
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    aws.cache_clear()
    url = urlsplit(files.upload("products/p/u/a.pdf", content_type="text/plain", size=1).url)
    assert (url.scheme, url.netloc, url.path) == (
        "http",
        "127.0.0.1:4566",
        "/nexus-files-test/products/p/u/a.pdf",
    )


def test_upload_expiry_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FILE_UPLOAD_SECONDS", "120")
    get_settings.cache_clear()
    signed = files.upload("k", content_type="text/plain", size=1)
    assert (_query(signed.url)["X-Amz-Expires"], signed.expires_in) == ("120", 120)


def test_download_url_is_sigv4_with_the_disposition_and_at_most_15_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FILE_DOWNLOAD_SECONDS", "300")
    get_settings.cache_clear()
    query = _query(files.download_url("products/p/u/a.pdf", "Résumé 2026.pdf"))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == "300"
    assert query["response-content-disposition"] == (
        "attachment; filename=\"Resume 2026.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%202026.pdf"
    )


def test_a_download_never_outlives_15_minutes() -> None:
    with pytest.raises(ValidationError):
        load_settings({"FILE_DOWNLOAD_SECONDS": "901"})


def test_without_a_bucket_presigning_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FILES_BUCKET")
    get_settings.cache_clear()
    assert not files.configured()
    with pytest.raises(ServiceUnavailable, match="File uploads are not configured"):
        files.upload("k", content_type="text/plain", size=1)
    with pytest.raises(ServiceUnavailable):
        files.download_url("k", "a.txt")


@pytest.mark.parametrize(
    "name,fallback",
    [
        ("plain.pdf", "plain.pdf"),
        ('say "hi"\\.pdf', "say _hi_.pdf"),
        ("Résumé.pdf", "Resume.pdf"),
        ("日本語.pdf", "___.pdf"),
        ("\u200b", "_"),
        ("100% ;x.pdf", "100_ _x.pdf"),
        ("emoji 📘.epub", "emoji _.epub"),
    ],
)
def test_content_disposition_has_an_ascii_fallback_and_the_exact_name(
    name: str, fallback: str
) -> None:
    value = files.content_disposition(name)
    match = re.fullmatch(r"attachment; filename=\"([^\"\\]*)\"; filename\*=UTF-8''(\S+)", value)
    assert match is not None, value
    assert match.group(1) == fallback
    assert match.group(1).isascii()
    assert re.fullmatch(r"[A-Za-z0-9%._~-]+", match.group(2))
    assert unquote(match.group(2)) == name


@pytest.mark.parametrize(
    "name,safe",
    [
        ("Sourdough course.pdf", "Sourdough_course.pdf"),
        ("../../etc/passwd", "etc_passwd"),
        ("Über.pdf", "Uber.pdf"),
        ("日本語", "file"),
        ("日本語.pdf", "pdf"),
        ("...", "file"),
        ("a" * 300 + ".pdf", "a" * 96 + ".pdf"),
    ],
)
def test_key_names_are_safe(name: str, safe: str) -> None:
    assert files.key_name(name) == safe


def test_every_key_is_new_and_under_the_product() -> None:
    first, second = files.new_key(PRODUCT, "a.pdf"), files.new_key(PRODUCT, "a.pdf")
    assert first != second
    assert re.fullmatch(rf"products/{PRODUCT}/[0-9a-f-]{{36}}/a\.pdf", first)


def _accepts(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


FILE_NAMES = [
    "a.pdf",
    "n" * 255,
    "n" * 256,
    "",
    " ",
    "a/b",
    "a\\b",
    "nul\x00",
    "tab\t",
    "del\x7f",
    "c1\x85",
    "nbsp\xa0ok",
    "Ünïcødé 📘",
    "..",
]
CONTENT_TYPES = [
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "image/svg+xml",
    "text/plain; charset=utf-8",
    "pdf",
    "/pdf",
    "application/",
    "a" * 127 + "/b",
    "a" * 128 + "/b",
    "text/plain\n",
    "",
]


@pytest.mark.parametrize(
    "kind,values", [("FileName", FILE_NAMES), ("ContentType", CONTENT_TYPES)], ids=str
)
def test_the_schema_states_exactly_the_validators_rules(kind: str, values: list[str]) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(
        {"FileName": FileName, "ContentType": ContentType}[kind]
    )
    schema = adapter.json_schema()
    pattern = re.sub(r"\$$", r"\\Z", schema["pattern"])
    for value in values:
        by_schema = (
            schema.get("minLength", 0) <= len(value) <= schema["maxLength"]
            and re.search(pattern, value) is not None
        )
        assert by_schema == _accepts(adapter, value), repr(value)


def test_upload_body_is_strict() -> None:
    good = {"filename": "a.pdf", "content_type": "application/pdf", "size": 1}
    FileUploadIn.model_validate(good)
    for bad in ({"size": 0}, {"size": 2**31 + 1}, {"size": 1.0}, {"size": "1"}, {"x": 1}):
        with pytest.raises(ValidationError):
            FileUploadIn.model_validate({**good, **bad})
    assert FileUploadIn.model_validate({**good, "size": 2**31}).size == 2**31
