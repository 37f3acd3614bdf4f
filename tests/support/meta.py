"""The sandbox's Facebook Login dialog, driven as a person would: open the authorize URL, pick
an account, untick permissions, press Continue (or Cancel), and read where Meta sends the
browser back to (the redirect's query: code, state, granted/denied scopes or an error)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import requests


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    boxes: list[str] = field(default_factory=list)
    buttons: dict[str, str] = field(default_factory=dict)  # label -> value


class Forms(HTMLParser):
    """The dialog page's forms: hidden fields, checkboxes and buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._button: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append(Form())
        elif tag == "input" and a.get("type") == "hidden":
            self.forms[-1].fields[str(a["name"])] = str(a.get("value") or "")
        elif tag == "input" and a.get("type") == "checkbox":
            self.forms[-1].boxes.append(str(a["name"]))
        elif tag == "button":
            self._button = a

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self.forms[-1].buttons[data.strip()] = str(self._button.get("value"))
            self._button = None


def dialog(
    authorize_url: str,
    *,
    account: str = "Dana Demo",
    decline: Iterable[str] = (),
    cancel: bool = False,
) -> dict[str, str]:
    """Consent (or not) in the dialog; the query Meta redirects the browser back with."""
    page = requests.get(authorize_url, timeout=5)
    assert page.status_code == 200, page.text
    parser = Forms()
    parser.feed(page.text)
    label = "Cancel" if cancel else f"Continue as {account}"
    form = next(f for f in parser.forms if label in f.buttons)
    declined = {f"perm_{s}" for s in decline}
    data = {**form.fields, **{b: "on" for b in form.boxes if b not in declined}}
    data["action"] = form.buttons[label]
    target = authorize_url.split("?", 1)[0]
    back = requests.post(target, data=data, allow_redirects=False, timeout=5)
    assert back.status_code == 303, back.text
    query = parse_qs(urlsplit(back.headers["Location"]).query)
    return {k: v[-1] for k, v in query.items()}
