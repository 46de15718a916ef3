"""The platform in the member's language: the catalogues are complete (every message of the pages,
the script and the service's errors, extracted afresh from the source with Babel, has an English
and a Russian translation with the same placeholders), every message the service raises has a
template, the language follows the cookie and the browser, and numbers are written per locale."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from fastapi.testclient import TestClient
from service_support import BOARD, bearer, make_backend

import glasnost.service
from glasnost.service import i18n

SERVICE = Path(glasnost.service.__file__).parent
ERRORS = {
    "BadInputError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "RateLimitedError",
    "ServiceError",
    "UnauthorizedError",
    "UnavailableError",
}
PERCENT = re.compile(r"%\((\w+)\)s")
BRACES = re.compile(r"\{(\w+)\}")


def _catalogue(locale: str) -> Any:
    with open(SERVICE / "locale" / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f, locale=locale)


def _key(message: Any) -> tuple[str | None, str]:
    return message.context, message.id if isinstance(message.id, str) else message.id[0]


def _placeholders(text: str) -> set[str]:
    return set(PERCENT.findall(text)) | set(BRACES.findall(text))


@pytest.mark.parametrize("locale", i18n.LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    """Fails on any message of the templates, app.js or the Python service (extracted now, from the
    source) that the catalogue lacks or leaves untranslated, fuzzy or short of a plural form, and
    on a translation that drops or invents a placeholder. (After changing a message, run
    ``python -m glasnost.service.i18n update`` and translate what it reports.)"""
    extracted = {_key(m): m for m in i18n.extract_messages() if m.id}
    catalogue = _catalogue(locale)
    known = {_key(m): m for m in catalogue if m.id}
    assert extracted.keys() - known.keys() == set(), "messages missing from the catalogue (run the update)"
    assert known.keys() - extracted.keys() == set(), "messages in the catalogue that nothing uses (run the update)"
    assert i18n.untranslated(catalogue) == []
    problems = []
    for key, message in known.items():
        english = [message.id] if isinstance(message.id, str) else list(message.id)
        forms = [message.string] if isinstance(message.string, str) else list(message.string)
        wanted = set().union(*map(_placeholders, english))
        got = [_placeholders(f) for f in forms]
        if set().union(*got) != wanted or any(not g <= wanted for g in got):
            problems.append(f"{key}: placeholders {sorted(wanted)} became {[sorted(g) for g in got]}")
    assert problems == []
    assert catalogue.num_plurals == {"en": 2, "ru": 3}[locale]


def test_the_compiled_catalogue_is_the_files() -> None:
    ru = i18n.translations("ru")
    assert ru.gettext("Skip to the content") == "Перейти к содержанию"
    one, many = "%(num)s ballot was counted.", "%(num)s ballots were counted."
    assert ru.ngettext(one, many, 3) == "Учтено %(num)s бюллетеня."
    assert ru.ngettext(one, many, 21) == "Учтён %(num)s бюллетень."  # Russian: 21 takes the singular
    assert ru.ngettext(one, many, 11) == "Учтено %(num)s бюллетеней."
    assert ru.pgettext("commodity", "health care") == "здравоохранение"


def _shape(node: ast.expr) -> str | None:
    """A message literal or f-string as a template (``{}`` where a value goes), else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)  # type: ignore[misc]
    return None


def _raised() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """Every message and place (``where=``) the service's modules raise an error with."""
    messages, places = set(), set()
    for path in SERVICE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ERRORS:
                where = f"{path.relative_to(SERVICE)}:{node.lineno}"
                if node.args and (text := _shape(node.args[0])) is not None:
                    messages.add((text, where))
                for kw in node.keywords:
                    if kw.arg == "where" and (text := _shape(kw.value)) is not None:
                        places.add((text, where))
    return messages, places


def _parts(template: str) -> tuple[str, ...]:
    return tuple(re.split(r"\{[^}]*\}", template))


def test_every_message_the_service_raises_has_a_template() -> None:
    """A new ``raise BadInputError(f"...")`` fails here until its template is in messages.MESSAGES (and
    translated): what the pages show in Russian would otherwise be English."""
    messages, places = _raised()
    assert len(messages) > 80  # the scan sees the service's messages

    def covered(text: str, templates: tuple[str, ...]) -> bool:
        if "{}" in text:  # an f-string: the same fixed text between the values
            return _parts(text) in {_parts(t) for t in templates}
        return any(re.fullmatch(_regex(t), text) for t in templates)  # a literal: one template makes it

    missing = sorted(f"{where}: {text!r}" for text, where in messages if not covered(text, i18n.MESSAGES))
    assert missing == []
    missing = sorted(f"{where}: {text!r}" for text, where in places if not covered(text, i18n.PLACES))
    assert missing == []


def _regex(template: str) -> str:
    parts = re.split(r"\{\w+\}", template)
    return ".+?".join(re.escape(p) for p in parts)


def test_the_shipped_data_names_are_in_the_catalogue() -> None:
    from glasnost.compute.variants import DEFAULT_VARIANTS
    from glasnost.control.benford import NIGRINI_FIRST_DIGIT
    from glasnost.control.cyberstride import STATES
    from glasnost.data.demo import LABOUR_TYPES, SECTORS, demo_economy

    names = {(m.context, m.id) for m in _catalogue("ru") if m.context}
    for spec in DEFAULT_VARIANTS:
        assert ("variant", spec.title) in names and ("variant", spec.description) in names
    for sector in [*SECTORS, *LABOUR_TYPES]:
        assert ("commodity", sector) in names
    for unit in set(demo_economy().commodities.units.tolist()):
        assert ("unit", str(unit)) in names
    for _, level in NIGRINI_FIRST_DIGIT:
        assert ("conformity", level) in names
    for state in STATES:
        assert ("alert state", state) in names
    assert '"Demo: the bundled economy"' in (SERVICE / "demo.py").read_text()


def test_messages_are_translated_with_their_values() -> None:
    budget = "council neighbourhood-1: asks for 12345.00 worth at the posted prices; its budget is 75.53"
    assert (
        i18n.localize(budget, "ru")
        == "совет neighbourhood-1: запрашивает на 12\xa0345,00 по объявленным ценам, а бюджет совета — 75,53"
    )
    assert i18n.localize(budget, "en") == budget
    who = "council make-fishing-0: alice is not a delegate of council make-fishing-0"
    assert i18n.localize(who, "ru") == "совет make-fishing-0: alice не является делегатом совета make-fishing-0"
    csv = "CSV line 3, column 2 (supply): '-1': a quantity is a finite number >= 0"
    assert i18n.localize(csv, "ru") == "CSV, строка 3, столбец 2 (предложение): '-1': количество — конечное число ≥ 0"
    quantity = "council x: demand of fishing is 'abc'; it must be a number >= 0"
    assert i18n.localize(quantity, "ru") == "совет x: запрос по товару fishing равно 'abc'; нужно число ≥ 0"
    # a message from elsewhere (the core's own) is shown as it is, with its place translated
    assert i18n.localize("council x: the economy has no such thing", "ru") == "совет x: the economy has no such thing"
    assert i18n.localize("something else entirely", "ru") == "something else entirely"


def test_the_language_follows_the_cookie_then_the_browser() -> None:
    assert i18n.choose_locale(None, None) == "en"
    assert i18n.choose_locale(None, "ru-RU,ru;q=0.9,en-US;q=0.8") == "ru"
    assert i18n.choose_locale(None, "de-DE, en;q=0.5, ru;q=0.7") == "ru"  # the best we have by q
    assert i18n.choose_locale(None, "de, fr;q=0.9") == "en"
    assert i18n.choose_locale(None, "ru;q=0, en;q=0.1") == "en"
    assert i18n.choose_locale("en", "ru") == "en"  # the switch wins
    assert i18n.choose_locale("xx", "ru") == "ru"


def test_numbers_and_dates_are_written_per_locale() -> None:
    # CLDR: Russian groups with a no-break space and writes a decimal comma; English a comma and a point
    assert i18n.format_number(1234.5678, "ru") == "1\xa0235"
    assert i18n.format_number(1234.5678, "en") == "1,235"
    assert i18n.format_number(0.0123456, "ru") == "0,01235"
    assert i18n.format_fixed(75.5283, "ru") == "75,53"
    assert i18n.format_share(-0.6374, "ru", signed=True) == "-63,74\xa0%"
    assert i18n.format_share(0.03, "en", 1) == "3.0%"
    assert i18n.format_when("2026-03-01T09:05:00Z", "ru").startswith("1 мар. 2026")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    from glasnost.service.app import create_app

    app = create_app(next(make_backend("sqlite", tmp_path)).settings())
    app.state.platform.accounts.create(*BOARD, board=True)
    with TestClient(app) as c:
        yield c


def test_pages_and_errors_in_the_asked_language(client: TestClient) -> None:
    ru = {"Accept-Language": "ru-RU,ru;q=0.9"}
    page = client.get("/", headers=ru).text
    assert '<html lang="ru">' in page and "Циклы планирования" in page
    assert '<html lang="en">' in client.get("/").text
    # the script's messages come with the page, translated
    block = re.search(r'<script type="application/json" id="glasnost-messages">(.*?)</script>', page, re.S)
    messages = json.loads(block.group(1))  # type: ignore[union-attr]
    assert set(messages) == set(i18n.script_messages()) and messages["Copied"] == "Скопировано"
    # the switch: a cookie for a year, back to the page; only a path on this site
    r = client.post("/language", data={"lang": "ru", "next": "/log?start=0"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/log?start=0"
    assert "glasnost_lang=ru" in r.headers["set-cookie"] and "Max-Age=31536000" in r.headers["set-cookie"]
    assert '<html lang="ru">' in client.get("/log", headers={"Accept-Language": "en"}).text  # the cookie wins
    r = client.post("/language", data={"lang": "en", "next": "//evil.example"}, follow_redirects=False)
    assert r.headers["location"] == "/"
    client.cookies.clear()
    # errors, as pages and as JSON
    assert "цикла 999 нет" in client.get("/cycles/999", headers=ru).text
    assert client.get("/api/cycles/999", headers=ru).json()["detail"] == "цикла 999 нет"
    assert client.get("/api/cycles/999").json()["detail"] == "there is no cycle 999"


def test_a_wrong_password_keeps_the_login_form(client: TestClient) -> None:
    client.get("/login")
    form = {"username": "board", "password": "wrong-password", "csrf_token": client.cookies.get("glasnost_csrf")}
    r = client.post("/login", data=form, headers={"Accept-Language": "ru"}, follow_redirects=False)
    assert r.status_code == 401
    assert 'id="login-error"' in r.text and "неверное имя пользователя или пароль" in r.text
    assert 'value="board"' in r.text and "Refused" not in r.text and "Отказано" not in r.text


def test_an_empty_proposal_is_refused_unless_confirmed(client: TestClient) -> None:
    from service_support import delegate

    board = bearer(client, *BOARD)
    cycle = client.post("/api/cycles", json={"name": "empty"}, headers=board).json()["id"]
    bob = delegate(client, board, cycle, "neighbourhood-1", "bob")
    url = f"/cycles/{cycle}/councils/neighbourhood-1/proposal"
    r = client.post(url, data={"round": "1", "demand:fishing": "0"}, headers=bob)
    assert r.status_code == 422 and 'id="empty-error"' in r.text and 'id="confirm-empty"' in r.text
    assert client.app.state.platform.views.council_position(cycle, "neighbourhood-1")["history"] == []
    r = client.post(url, data={"round": "1", "confirm_empty": "1"}, headers=bob, follow_redirects=False)
    assert r.status_code == 303
    (stored,) = client.app.state.platform.views.council_position(cycle, "neighbourhood-1")["history"]
    assert stored["how"] == "own" and stored["demand"] == {}
