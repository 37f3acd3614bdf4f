"""Walk-through: from registration to a paid order and its download.

A seller registers (or logs in, on a second run), lists a product, uploads the file buyers
get and looks at its public store page; a buyer checks out twice with one Idempotency-Key
(one order, one Checkout Session), opens the payment page (the local stack's sandbox
Stripe) and presses Pay, as a browser would; Stripe's signed webhook reaches the stack and
the order is paid; the buyer downloads the file; the seller sees the order among the paid
ones.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from walkthroughs import browser
from walkthroughs.client import Api, WalkthroughFailed, show, wait_for

FILE_NAME = "field-guide.pdf"
FILE_TYPE = "application/pdf"


def _file_bytes(product_id: str) -> bytes:
    """The product's file: a few bytes that name it, so a download can be checked."""
    return f"%PDF-1.7\n% Field guide for product {product_id}\n%%EOF\n".encode()


def _send(method: str, url: str, data: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - local URLs
    for key, value in headers.items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - local URLs
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except urllib.error.URLError as err:
        raise WalkthroughFailed(f"cannot reach {url}: {err.reason}") from err


def upload_file(api: Api, product_id: str) -> None:
    """Ask for an upload URL, PUT the bytes there with the headers it came with, and see the
    product show the file."""
    content = _file_bytes(product_id)
    ticket = api.expect(
        "ask where to upload the product's file",
        "PUT",
        f"/products/{product_id}/file",
        {"filename": FILE_NAME, "content_type": FILE_TYPE, "size": len(content)},
    ).body
    show("   upload", value={k: ticket[k] for k in ("method", "headers", "expires_in")})
    status, answer = _send(ticket["method"], ticket["upload_url"], content, ticket["headers"])
    show(api.next_step("send the bytes to upload_url"), f"{ticket['method']} -> {status}")
    if status != 200:
        raise WalkthroughFailed(f"the upload was refused: {status} {answer[:300]!r}")
    product = api.expect("the product now", "GET", f"/products/{product_id}").body
    if product.get("file") != {"filename": FILE_NAME, "size": len(content)}:
        raise WalkthroughFailed(f"the product does not show its file: {product.get('file')}")
    show("   file", value=product["file"])


def pay_on_the_page(api: Api, checkout_url: str) -> None:
    page = browser.open_page(checkout_url)
    show(api.next_step("the buyer opens checkout_url"), f"GET {checkout_url} -> {page.status}")
    if page.status != 200:
        raise WalkthroughFailed(f"the payment page answered {page.status}")
    form = page.form("Pay")
    print(f"   the page's Pay form: {form.method} {form.action}")
    done = browser.press(page, "Pay")
    show(api.next_step("the buyer presses Pay"), f"{done.method} {done.url} -> {done.status}")
    if done.status != 303:
        raise WalkthroughFailed(f"pressing Pay answered {done.status}")
    print(f"   redirected to the web app: {done.location}")


def download(api: Api, order: dict[str, object], expected: bytes) -> None:
    url = order.get("download_url")
    if not isinstance(url, str):
        raise WalkthroughFailed(f"the paid order has no download_url: {order}")
    status, content = _send("GET", url, None, {})
    show(api.next_step("the buyer downloads the file (download_url)"), f"GET -> {status}")
    if status != 200 or content != expected:
        raise WalkthroughFailed(f"the download answered {status} with other bytes: {content!r}")
    print(f"   {len(content)} bytes, the ones the seller uploaded")


def run(api: Api) -> None:
    api.sign_in()
    me = api.expect("who am I", "GET", "/auth/me").body
    show("   seller", value=me)

    product = api.expect(
        "list a product (price in integer cents)",
        "POST",
        "/products",
        {"name": "Field guide", "price": 2500, "currency": "EUR"},
        ok=(201,),
    ).body
    show("   product", value=product)
    upload_file(api, product["id"])
    store = api.expect(
        "its public store page", "GET", f"/store/products/{product['id']}", auth=False
    ).body
    show("   store page", value=store)

    # One key per product, so that a second run (a new product) is a new cart.
    cart = {"Idempotency-Key": f"walkthrough-{product['id']}"}
    buy = {"product_id": product["id"], "email": "buyer@example.com"}
    order = api.expect(
        "a buyer checks out", "POST", "/checkout", buy, headers=cart, ok=(201,), auth=False
    ).body
    show("   order", value=order)
    again = api.expect(
        "the same Idempotency-Key and body again: the same order",
        "POST",
        "/checkout",
        buy,
        headers=cart,
        ok=(200,),
        auth=False,
    ).body
    if (again["id"], again["checkout_url"]) != (order["id"], order["checkout_url"]):
        raise WalkthroughFailed(f"a replay made another order or session: {again}")
    api.expect("the buyer's view", "GET", f"/checkout/orders/{order['id']}", auth=False)

    pay_on_the_page(api, order["checkout_url"])

    def paid() -> dict[str, object] | None:
        view = api.call("GET", f"/checkout/orders/{order['id']}", auth=False)
        return view.body if view.status == 200 and view.body["status"] == "paid" else None

    view = wait_for("Stripe's checkout.session.completed webhook to mark the order paid", paid)
    show(
        api.next_step("the buyer's view again"),
        f"GET /checkout/orders/{order['id']} -> 200, paid",
        view,
    )
    download(api, view, _file_bytes(product["id"]))

    orders = api.expect("the seller's paid orders", "GET", "/orders?status=paid").body
    if order["id"] not in [o["id"] for o in orders["items"]]:
        raise WalkthroughFailed("the paid order is not among the seller's paid orders")
    print(f"   {len(orders['items'])} paid order(s), this one among them")
    print(f"done: order {order['id']} is paid and its file downloaded")
