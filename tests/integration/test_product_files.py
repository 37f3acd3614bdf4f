"""A product's file: a presigned PUT that signs its type and length, the product showing the
file once the object is in the bucket, and presigned downloads that outlive replacement and
deletion. Against the real PostgreSQL and the local stack's S3 (moto's server, over HTTP).

moto checks no signature, so what S3 would enforce is checked in the URL itself: the
signed headers and the expiry."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import psycopg
import pytest

from nexus import files
from nexus_local.fake_stripe import FakeStripe
from tests.support.api import Api, Reply, assert_problem
from tests.support.payments import pay

pytestmark = pytest.mark.usefixtures("files_bucket")

GIB = 1024**3
PDF = b"%PDF-1.7 the whole sourdough course\n" * 100


@pytest.fixture
def token(api: Api) -> str:
    return api.seller("files@example.com")


def put_file(api: Api, token: str, product_id: str, **fields: Any) -> Reply:
    body = {"filename": "Sourdough course.pdf", "content_type": "application/pdf", "size": 3600}
    return api.request(
        "PUT", f"/products/{product_id}/file", json_body={**body, **fields}, token=token
    )


def send(url: str, *, method: str = "GET", data: bytes | None = None, **headers: str) -> Any:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    return urllib.request.urlopen(request, timeout=10)


def upload(api: Api, token: str, product_id: str, content: bytes, name: str) -> dict[str, Any]:
    """The seller's two steps: ask for the URL, PUT the bytes with exactly its headers."""
    reply = put_file(
        api, token, product_id, filename=name, content_type="application/pdf", size=len(content)
    )
    assert reply.status == 200, reply.text
    answer: dict[str, Any] = reply.json()
    with send(answer["upload_url"], method="PUT", data=content, **answer["headers"]) as done:
        assert done.status == 200
    return answer


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def stored(conn: psycopg.Connection[Any], product_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT file_key, file_name, file_size, file_content_type, upload_key, upload_size"
        " FROM products WHERE id = %s",
        (product_id,),
    ).fetchone()
    assert row is not None
    keys = ("file_key", "file_name", "file_size", "file_content_type", "upload_key", "upload_size")
    return dict(zip(keys, row, strict=True))


class TestUploadUrl:
    def test_signs_content_type_and_length_for_the_configured_time(
        self, api: Api, token: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FILE_UPLOAD_SECONDS", "600")
        product = api.product(token)
        reply = put_file(api, token, product["id"], size=3600)
        assert reply.status == 200, reply.text
        answer = reply.json()
        assert set(answer) == {"upload_url", "method", "headers", "expires_in"}
        assert answer["method"] == "PUT"
        assert answer["headers"] == {"Content-Type": "application/pdf", "Content-Length": "3600"}
        assert answer["expires_in"] == 600
        query = query_of(answer["upload_url"])
        assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
        assert query["X-Amz-SignedHeaders"] == "content-length;content-type;host"
        assert query["X-Amz-Expires"] == "600"
        # A key of its own under the product, the name made safe for a key.
        path = unquote(urlsplit(answer["upload_url"]).path)
        assert path.startswith(f"/filesbucket/products/{product['id']}/")
        assert path.endswith("/Sourdough_course.pdf")

    def test_every_upload_gets_a_fresh_key(self, api: Api, token: str) -> None:
        product = api.product(token)
        first, second = (put_file(api, token, product["id"]).json() for _ in range(2))
        assert urlsplit(first["upload_url"]).path != urlsplit(second["upload_url"]).path

    @pytest.mark.parametrize("size", [1, 2 * GIB])
    def test_size_limits_are_inclusive(self, api: Api, token: str, size: int) -> None:
        product = api.product(token)
        reply = put_file(api, token, product["id"], size=size)
        assert reply.status == 200, reply.text
        assert reply.json()["headers"]["Content-Length"] == str(size)

    @pytest.mark.parametrize(
        "fields",
        [
            {"size": 0},
            {"size": -1},
            {"size": 2 * GIB + 1},
            {"size": 10.0},
            {"size": "10"},
            {"size": True},
            {"filename": ""},
            {"filename": "n" * 256},
            {"filename": "../etc/passwd"},
            {"filename": "dir\\file.pdf"},
            {"filename": "a\u0000.pdf"},
            {"filename": "line\nbreak.pdf"},
            {"filename": "bell\u0007.pdf"},
            {"filename": "c1\u0085.pdf"},
            {"filename": "\ud800.pdf"},
            {"filename": None},
            {"content_type": ""},
            {"content_type": "pdf"},
            {"content_type": "application/pdf; charset=binary"},
            {"content_type": "application/pdf\r\nX-Evil: 1"},
            {"content_type": "/pdf"},
            {"content_type": "a" * 128 + "/pdf"},
            {"extra": 1},
        ],
    )
    def test_invalid_bodies_are_422(self, api: Api, token: str, fields: dict[str, Any]) -> None:
        product = api.product(token)
        assert_problem(put_file(api, token, product["id"], **fields), 422)

    def test_a_missing_field_is_422(self, api: Api, token: str) -> None:
        product = api.product(token)
        reply = api.request(
            "PUT",
            f"/products/{product['id']}/file",
            json_body={"filename": "a.pdf", "size": 3},
            token=token,
        )
        assert assert_problem(reply, 422)["errors"][0]["loc"] == ["body", "content_type"]

    @pytest.mark.parametrize(
        "name", ["n" * 255, "Ünïcødé 📘 notes.pdf", "no-extension", ".hidden", 'semi;colon "q"']
    )
    def test_any_file_name_without_separators_or_controls(
        self, api: Api, token: str, name: str
    ) -> None:
        product = api.product(token)
        reply = put_file(api, token, product["id"], filename=name)
        assert reply.status == 200, reply.text

    def test_another_sellers_or_unknown_or_deleted_product_is_404(self, api: Api) -> None:
        owner, other = api.seller("owner@example.com"), api.seller("other@example.com")
        product = api.product(owner)
        assert_problem(put_file(api, other, product["id"]), 404)
        assert_problem(put_file(api, owner, "00000000-0000-4000-8000-000000000000"), 404)
        assert_problem(put_file(api, owner, "not-a-uuid"), 404)
        api.delete(f"/products/{product['id']}", token=owner)
        assert_problem(put_file(api, owner, product["id"]), 404)

    def test_without_a_bucket_uploads_are_503_and_reads_ask_nothing(
        self,
        api: Api,
        token: str,
        conn: psycopg.Connection[Any],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Given a product with a delivered file and a pending upload, and no bucket configured
        product = api.product(token)
        conn.execute(
            "UPDATE products SET file_key = 'products/x/y/old.pdf', file_name = 'old.pdf',"
            " file_size = 7, upload_key = 'products/x/z/new.pdf', upload_name = 'new.pdf',"
            " upload_size = 9, upload_content_type = 'application/pdf',"
            " upload_started_at = now() WHERE id = %s",
            (product["id"],),
        )
        monkeypatch.delenv("FILES_BUCKET")
        from nexus.settings import get_settings

        get_settings.cache_clear()
        monkeypatch.setattr(files, "size_of", _no_head)
        # When the seller asks for an upload URL, Then it is a 503 problem
        body = assert_problem(put_file(api, token, product["id"]), 503)
        assert body["detail"] == "File uploads are not configured."
        # And reads show the stored file without asking S3
        shown = api.get(f"/products/{product['id']}", token=token).json()
        assert shown["file"] == {"filename": "old.pdf", "size": 7}
        listed = api.get("/products", token=token).json()["items"]
        assert listed[0]["file"] == {"filename": "old.pdf", "size": 7}


def _no_head(key: str) -> int | None:
    raise AssertionError(f"S3 was asked about {key}")


class TestDelivery:
    def test_the_product_shows_its_file_once_the_object_is_in_the_bucket(
        self, api: Api, token: str, conn: psycopg.Connection[Any]
    ) -> None:
        product = api.product(token)
        assert product["file"] is None
        # Given an upload handed out but not yet sent
        answer = put_file(api, token, product["id"], size=len(PDF)).json()
        path = f"/products/{product['id']}"
        # Then the product has no file yet, and the upload stays pending
        assert api.get(path, token=token).json()["file"] is None
        assert stored(conn, product["id"])["upload_size"] == len(PDF)
        # When the bytes are PUT with exactly the headers the answer named
        with send(answer["upload_url"], method="PUT", data=PDF, **answer["headers"]) as done:
            assert done.status == 200
        # Then the next read shows the file, promoted in the database
        shown = api.get(path, token=token).json()
        assert shown["file"] == {"filename": "Sourdough course.pdf", "size": len(PDF)}
        assert shown["updated_at"] > product["updated_at"]
        row = stored(conn, product["id"])
        assert row["file_key"] == unquote(urlsplit(answer["upload_url"]).path).split("/", 2)[2]
        assert (row["file_name"], row["file_size"]) == ("Sourdough course.pdf", len(PDF))
        assert row["file_content_type"] == "application/pdf"
        assert (row["upload_key"], row["upload_size"]) == (None, None)
        # And every other read of the product shows it too
        assert api.get("/products", token=token).json()["items"][0]["file"] == shown["file"]
        patched = api.patch(path, json_body={"price": 500}, token=token).json()
        assert patched["file"] == shown["file"]

    def test_download_url_returns_the_bytes_as_an_attachment(
        self, api: Api, token: str, conn: psycopg.Connection[Any]
    ) -> None:
        product = api.product(token)
        upload(api, token, product["id"], PDF, "Über cours.pdf")
        api.get(f"/products/{product['id']}", token=token)
        row = stored(conn, product["id"])
        url = files.download_url(row["file_key"], row["file_name"])
        query = query_of(url)
        assert query["X-Amz-Expires"] == "900"
        assert query["X-Amz-SignedHeaders"] == "host"
        assert query["response-content-disposition"] == (
            "attachment; filename=\"Uber cours.pdf\"; filename*=UTF-8''%C3%9Cber%20cours.pdf"
        )
        with send(url) as got:
            assert got.read() == PDF
            assert got.headers["Content-Disposition"] == query["response-content-disposition"]
            assert got.headers["Content-Type"] == "application/pdf"

    def test_replacing_the_file_or_deleting_the_product_keeps_old_downloads(
        self, api: Api, token: str, conn: psycopg.Connection[Any]
    ) -> None:
        product = api.product(token)
        path = f"/products/{product['id']}"
        upload(api, token, product["id"], b"first edition", "v1.pdf")
        assert api.get(path, token=token).json()["file"] == {"filename": "v1.pdf", "size": 13}
        first = stored(conn, product["id"])
        # Given a new upload handed out: until it arrives the product shows the first file
        second = put_file(api, token, product["id"], filename="v2.pdf", size=14).json()
        assert api.get(path, token=token).json()["file"] == {"filename": "v1.pdf", "size": 13}
        with send(second["upload_url"], method="PUT", data=b"second edition", **second["headers"]):
            pass
        assert api.get(path, token=token).json()["file"] == {"filename": "v2.pdf", "size": 14}
        # When the product is deleted
        assert api.delete(path, token=token).status == 204
        # Then both objects are still there to download
        with send(files.download_url(first["file_key"], "v1.pdf")) as got:
            assert got.read() == b"first edition"
        latest = stored(conn, product["id"])
        with send(files.download_url(latest["file_key"], "v2.pdf")) as got:
            assert got.read() == b"second edition"

    def test_an_object_of_another_size_is_not_delivered(
        self, api: Api, token: str, conn: psycopg.Connection[Any]
    ) -> None:
        # moto checks no signature; S3 would refuse this PUT (the length is signed)
        product = api.product(token)
        answer = put_file(api, token, product["id"], size=100).json()
        with send(
            answer["upload_url"], method="PUT", data=b"short", **{"Content-Type": "application/pdf"}
        ):
            pass
        assert api.get(f"/products/{product['id']}", token=token).json()["file"] is None
        assert stored(conn, product["id"])["upload_size"] == 100

    def test_an_upload_that_never_arrived_is_forgotten_a_day_after_its_url_expired(
        self, api: Api, token: str, conn: psycopg.Connection[Any]
    ) -> None:
        product = api.product(token)
        put_file(api, token, product["id"])
        conn.execute(
            "UPDATE products SET upload_started_at = now() - interval '25 hours' WHERE id = %s",
            (product["id"],),
        )
        assert api.get(f"/products/{product['id']}", token=token).json()["file"] is None
        assert stored(conn, product["id"])["upload_key"] is None

    def test_a_bucket_that_cannot_be_asked_leaves_the_read_as_it_was(
        self,
        api: Api,
        token: str,
        conn: psycopg.Connection[Any],
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        # Given a pending upload, and S3 unreachable (nothing listens there)
        from tests.support.stack import free_port

        product = api.product(token)
        put_file(api, token, product["id"])
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
        monkeypatch.setenv("AWS_CONNECT_TIMEOUT_SECONDS", "0.5")
        from nexus.settings import get_settings

        get_settings.cache_clear()
        # When the product is read (alone and in the list), Then the reads answer as before
        reply = api.get(f"/products/{product['id']}", token=token)
        assert reply.status == 200, reply.text
        assert reply.json()["file"] is None
        assert api.get("/products", token=token).status == 200
        # And the upload is still pending, with a warning logged
        assert stored(conn, product["id"])["upload_key"] is not None
        assert "could not check a product's upload" in caplog.text

    def test_reads_of_products_without_a_pending_upload_ask_s3_nothing(
        self, api: Api, token: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for _ in range(3):
            api.product(token)
        monkeypatch.setattr(files, "size_of", _no_head)
        assert len(api.get("/products", token=token).json()["items"]) == 3


class TestBuyerDownload:
    """The buyer of a paid order downloads the product's file from the order page."""

    def _paid_order(self, api: Api, stripe: FakeStripe, product_id: str) -> dict[str, Any]:
        body = {"product_id": product_id, "email": "buyer@example.com"}
        order: dict[str, Any] = api.post("/checkout", json_body=body).json()
        pay(api, stripe, order)
        return order

    def _download(self, api: Api, order: dict[str, Any]) -> bytes:
        page = api.get(f"/checkout/orders/{order['id']}").json()
        assert page["status"] == "paid"
        query = query_of(page["download_url"])
        assert int(query["X-Amz-Expires"]) <= 900  # a short-lived link
        with send(page["download_url"]) as got:
            return bytes(got.read())

    def test_an_upload_no_product_read_has_seen_is_delivered(
        self, api: Api, stripe: FakeStripe, token: str
    ) -> None:
        # Given a seller who uploads and never reads the product again
        product = api.product(token)
        upload(api, token, product["id"], PDF, "course.pdf")
        # Then the paid order's page gives the file
        assert self._download(api, self._paid_order(api, stripe, product["id"])) == PDF

    def test_no_link_before_payment_or_without_a_file(
        self, api: Api, stripe: FakeStripe, token: str
    ) -> None:
        bare = api.product(token, name="No file")
        assert (
            api.get(f"/checkout/orders/{self._paid_order(api, stripe, bare['id'])['id']}").json()[
                "download_url"
            ]
            is None
        )
        product = api.product(token)
        upload(api, token, product["id"], PDF, "course.pdf")
        pending = api.post(
            "/checkout", json_body={"product_id": product["id"], "email": "b@example.com"}
        ).json()
        assert api.get(f"/checkout/orders/{pending['id']}").json()["download_url"] is None
        # An upload whose bytes never arrived is not offered either
        half = api.product(token, name="Half")
        assert put_file(api, token, half["id"]).status == 200
        order = self._paid_order(api, stripe, half["id"])
        assert api.get(f"/checkout/orders/{order['id']}").json()["download_url"] is None

    def test_a_past_buyer_still_downloads_after_a_replacement_and_a_deletion(
        self, api: Api, stripe: FakeStripe, token: str
    ) -> None:
        product = api.product(token)
        upload(api, token, product["id"], PDF, "v1.pdf")
        order = self._paid_order(api, stripe, product["id"])
        api.get(f"/products/{product['id']}", token=token)  # the seller looks: v1 is the file
        upload(api, token, product["id"], b"version two", "v2.pdf")
        assert self._download(api, order) == b"version two"  # the product's current file
        assert api.delete(f"/products/{product['id']}", token=token).status == 204
        assert self._download(api, order) == b"version two"
