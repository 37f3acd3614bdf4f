"""What a buyer's browser does on a payment page (the local stack's sandbox Stripe hosts one
at every ``checkout_url``): load the page, find the form whose button says Pay (or Cancel),
and submit it as the HTML says, to its ``action`` with its ``method``. The redirect that
answers it is reported, not followed: it leads to the web app (``WEB_BASE_URL``), which the
local stack does not serve. :func:`submit` fills a form in as a browser would (hidden fields,
ticked checkboxes, the button's own value), for the sandbox's Facebook Login dialog, whose
redirect back to the web app carries the ``code`` and ``state``. The standard library only."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html.parser import HTMLParser

from walkthroughs.client import WalkthroughFailed


@dataclass
class Form:
    action: str
    method: str
    buttons: list[str] = field(default_factory=list)
    # What a browser sends with the form (see submit): its hidden inputs, its checkboxes
    # (name, value, ticked as the page has it) and each button's own name=value, by label.
    hidden: list[tuple[str, str]] = field(default_factory=list)
    checkboxes: list[tuple[str, str, bool]] = field(default_factory=list)
    button_values: dict[str, tuple[str, str]] = field(default_factory=dict)


class _Forms(HTMLParser):
    """The page's forms, each with the labels of its submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._label: list[str] | None = None
        self._button: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            method = (found.get("method") or "get").upper()
            self._form = Form(action=found.get("action") or "", method=method)
            self.forms.append(self._form)
        elif tag == "button" and self._form is not None:
            self._label = []
            self._button = found
        elif tag == "input" and self._form is not None and found.get("type") == "hidden":
            self._form.hidden.append((found.get("name") or "", found.get("value") or ""))
        elif tag == "input" and self._form is not None and found.get("type") == "checkbox":
            box = (found.get("name") or "", found.get("value") or "on", "checked" in found)
            self._form.checkboxes.append(box)
        elif tag == "input" and self._form is not None and found.get("type") == "submit":
            self._form.buttons.append((found.get("value") or "Submit").strip())

    def handle_data(self, data: str) -> None:
        if self._label is not None:
            self._label.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._label is not None and self._form is not None:
            self._form.buttons.append("".join(self._label).strip())
            if self._button.get("name"):
                name, value = self._button["name"] or "", self._button.get("value") or ""
                self._form.button_values[self._form.buttons[-1]] = (name, value)
            self._label = None
        elif tag == "form":
            self._form = None


@dataclass
class Page:
    url: str
    status: int
    html: str
    forms: list[Form]

    def form(self, button: str) -> Form:
        for form in self.forms:
            if button in form.buttons:
                return form
        labels = [b for f in self.forms for b in f.buttons]
        raise WalkthroughFailed(f"no {button!r} button on {self.url} (buttons: {labels})")


@dataclass
class Submitted:
    """The answer to a submitted form: its status and, for a redirect, where it leads."""

    method: str
    url: str
    status: int
    location: str | None


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def _open(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    try:
        with _opener.open(request, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:  # redirects too, since they are not followed
        return err.code, dict(err.headers), err.read()
    except urllib.error.URLError as err:
        raise WalkthroughFailed(f"cannot open {request.full_url}: {err.reason}") from err


def open_page(url: str) -> Page:
    status, _, body = _open(urllib.request.Request(url))  # noqa: S310 - the sandbox's page
    text = body.decode("utf-8", "replace")
    parser = _Forms()
    parser.feed(text)
    return Page(url, status, text, parser.forms)


def press(page: Page, button: str) -> Submitted:
    """Submit the form of ``button`` as a browser does (no fields: the sandbox's forms have
    none), to its action resolved against the page's URL."""
    form = page.form(button)
    target = urllib.parse.urljoin(page.url, form.action or page.url)
    data = b"" if form.method == "POST" else None
    request = urllib.request.Request(target, data=data, method=form.method)  # noqa: S310
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    status, headers, _ = _open(request)
    return Submitted(form.method, target, status, headers.get("Location"))


def submit(page: Page, button: str, *, untick: tuple[str, ...] = ()) -> Submitted:
    """Submit the form of ``button`` with what a browser sends: its hidden fields, its
    checkboxes as the page ticked them less those named in ``untick``, and the pressed
    button's name=value; form-encoded, to its action resolved against the page's URL (the
    page's own URL, query included, when it has none)."""
    form = page.form(button)
    unknown = set(untick) - {name for name, _, _ in form.checkboxes}
    if unknown:
        raise WalkthroughFailed(f"no checkbox {sorted(unknown)} in the {button!r} form")
    fields = list(form.hidden)
    fields += [(n, v) for n, v, ticked in form.checkboxes if ticked and n not in untick]
    if button in form.button_values:
        fields.append(form.button_values[button])
    encoded = urllib.parse.urlencode(fields)
    target = urllib.parse.urljoin(page.url, form.action or page.url)
    if form.method == "POST":
        request = urllib.request.Request(target, data=encoded.encode(), method="POST")  # noqa: S310
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    else:
        target = urllib.parse.urlunsplit(urllib.parse.urlsplit(target)._replace(query=encoded))
        request = urllib.request.Request(target)  # noqa: S310 - the sandbox's page
    status, headers, _ = _open(request)
    return Submitted(form.method, target, status, headers.get("Location"))
