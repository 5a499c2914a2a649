"""The browser's side of the sign-in, driven with httpx: open the link, follow the forms."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(values.get("action", ""), values.get("method", "get").lower()))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1].fields[values["name"]] = values.get("value", "")


def forms(html: str) -> list[Form]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


class Browser:
    """A cookie-keeping client that submits the page's form like a person would."""

    def __init__(self) -> None:
        self.client = httpx.Client(follow_redirects=True, timeout=10)
        self.pages: list[httpx.Response] = []

    def open(self, url: str) -> httpx.Response:
        return self._keep(self.client.get(url))

    def submit(self, page: httpx.Response, **values: str) -> httpx.Response:
        """Submit the page's only form with its hidden fields and ``values``."""
        (form,) = forms(page.text)
        data = {**form.fields, **values}
        target = urljoin(str(page.url), form.action)
        if form.method == "post":
            return self._keep(self.client.post(target, data=data))
        return self._keep(self.client.get(target, params=data))

    def sign_in(self, url: str, referral_key: str | None = None) -> httpx.Response:
        """Open the sign-in link, continue with the provider, give the key when asked."""
        page = self.submit(self.open(url))
        if page.url.path == "/referral" and referral_key is not None:
            page = self.submit(page, key=referral_key)
        return page

    def _keep(self, response: httpx.Response) -> httpx.Response:
        self.pages.extend([*response.history, response])
        return response

    def close(self) -> None:
        self.client.close()
