"""The platform's languages: which one a request gets, the catalogues, numbers and dates per locale,
and the platform's own messages (the errors the service raises) in the member's language.

- **Which language.** The ``glasnost_lang`` cookie (set by the language switch, ``POST /language``),
  else the browser's ``Accept-Language``, else English (:func:`locale_of`).
- **Catalogues.** ``locale/<lang>/LC_MESSAGES/messages.po`` (gettext, made with Babel; see
  ``docs/i18n.md``). They are compiled in memory when first used (:func:`translations`), so no
  ``.mo`` file is kept in the repository or built at install time.
- **Templates.** Jinja2's i18n extension with "new style" gettext: ``{{ _("Round %(n)s", n=3) }}``,
  ``{{ ngettext("%(num)s ballot", "%(num)s ballots", n) }}``; the language is the page's ``locale``
  (:func:`install`). Filters format numbers and dates per locale with Babel (``num``, ``fixed``,
  ``pct``, ``spct``, ``when``).
- **Scripts.** ``static/app.js`` calls ``_("...")``; its messages are extracted from the script and
  handed to it, translated, as a JSON block in every page (:func:`script_catalogue`).
- **Errors.** The service raises its errors in English (``BadInputError("log in first")``, f-strings
  with values). :func:`localize` finds the template a message was made from (:data:`MESSAGES`,
  :data:`PLACES`), translates it and puts the values back, numbers formatted per locale. A message
  that matches no template (one from the core, such as a parser's) is shown as it is.
  ``tests/test_i18n.py`` fails when a message the service raises has no template here, or a template
  no Russian translation.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, NamedTuple

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, parse_pattern
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from glasnost.service.messages import MESSAGES, N_, PLACES, WORDS

__all__ = [
    "DEFAULT_LOCALE",
    "LANGUAGE_COOKIE",
    "LOCALES",
    "MESSAGES",
    "N_",
    "PLACES",
    "Message",
    "choose_locale",
    "install",
    "locale_of",
    "localize",
    "localize_error",
    "match",
    "script_catalogue",
    "translations",
]

LOCALES: tuple[str, ...] = ("en", "ru")
"""The languages with a complete catalogue; the first is the default."""
DEFAULT_LOCALE = LOCALES[0]
LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}
"""Each language in its own words (what the switch shows)."""
LANGUAGE_COOKIE = "glasnost_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
SCRIPT = Path(__file__).parent / "static" / "app.js"


def NP_(context: str, message: str) -> str:  # noqa: N802 (the gettext convention)
    """Mark a name from the data (a commodity, a unit, a variant) for the catalogue, with its context."""
    return message


DATA_NAMES: tuple[str, ...] = (
    # the bundled economy (glasnost.data.demo): sectors, labour types and units
    NP_("commodity", "agriculture"),
    NP_("commodity", "fishing"),
    NP_("commodity", "forestry"),
    NP_("commodity", "mining"),
    NP_("commodity", "energy"),
    NP_("commodity", "water supply"),
    NP_("commodity", "steel"),
    NP_("commodity", "chemicals"),
    NP_("commodity", "machinery"),
    NP_("commodity", "electronics"),
    NP_("commodity", "textiles"),
    NP_("commodity", "food processing"),
    NP_("commodity", "construction"),
    NP_("commodity", "housing"),
    NP_("commodity", "transport"),
    NP_("commodity", "communications"),
    NP_("commodity", "retail distribution"),
    NP_("commodity", "culture"),
    NP_("commodity", "health care"),
    NP_("commodity", "education"),
    NP_("commodity", "general labour"),
    NP_("commodity", "skilled trades"),
    NP_("commodity", "professional"),
    NP_("unit", "base-price unit"),
    NP_("unit", "million hours"),
    # the plan variants (glasnost.compute.variants.DEFAULT_VARIANTS)
    NP_("variant", "As asked"),
    NP_("variant", "The mix the councils asked for in the last round, with nothing set aside."),
    NP_("variant", "More public goods"),
    NP_("variant", "Public goods weighted 1.5 against private consumption."),
    NP_("variant", "More private consumption"),
    NP_("variant", "Private goods weighted 1.25, public goods 0.75."),
    NP_("variant", "Invest a tenth"),
    NP_("variant", "The mix as asked, with 10% of every labour type and resource set aside for investment."),
    # the demo cycle (glasnost.service.demo)
    NP_("cycle", "Demo: the bundled economy"),
    # Nigrini's conformity levels (glasnost.control.benford)
    NP_("conformity", "close conformity"),
    NP_("conformity", "acceptable conformity"),
    NP_("conformity", "marginally acceptable conformity"),
    NP_("conformity", "nonconformity"),
    # what a plan variant's solver reports (glasnost.compute)
    NP_("solver status", "optimal"),
    NP_("solver status", "time limit"),
    NP_("solver status", "round limit"),
    # the bundled economy as a cycle's source
    NP_("economy", "demo"),
    # Cyberstride's indicators and states (glasnost.control.alerts, glasnost.control.cyberstride)
    NP_("indicator", "gap"),
    NP_("indicator", "productivity"),
    NP_("indicator", "latency"),
    NP_("indicator", "output"),
    NP_("alert state", "steady"),
    NP_("alert state", "outlier"),
    NP_("alert state", "step"),
    NP_("alert state", "slope"),
)
"""Names that come with the data the platform ships, translated where shown (the ``name`` filter)."""

KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2),
            "npgettext": ((1, "c"), 2, 3), "N_": None, "NP_": ((1, "c"), 2)}
"""What Babel extracts as messages (Python, templates and the script)."""


# ---- which language -----------------------------------------------------------------------------


def _accepted(header: str) -> list[str]:
    """The languages of an ``Accept-Language`` header, most wanted first (q=0 left out)."""
    ranked = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and q > 0 and math.isfinite(q):
            ranked.append((-q, i, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def choose_locale(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: the cookie's if it names one we have, else the first of the
    browser's languages we have (``ru-RU`` gives ``ru``), else the default."""
    if cookie in LOCALES:
        return str(cookie)
    for tag in _accepted(accept_language or ""):
        base = tag.replace("_", "-").split("-")[0].lower()
        if base in LOCALES:
            return base
        if base == "*":
            break
    return DEFAULT_LOCALE


def locale_of(request: Any) -> str:
    """The language of a request (cached on it)."""
    state = request.state
    cached = getattr(state, "locale", None)
    if cached is None:
        cached = choose_locale(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
        state.locale = cached
    return cached


# ---- catalogues --------------------------------------------------------------------------------


@lru_cache(maxsize=len(LOCALES))
def translations(locale: str) -> Translations:
    """The compiled catalogue of a language (read from its ``.po`` file once per process)."""
    if locale not in LOCALES:
        locale = DEFAULT_LOCALE
    with open(LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po", "rb") as f:
        catalog = read_po(f, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(buf)


def gettext(locale: str, message: str) -> str:
    return translations(locale).gettext(message)


def pgettext(locale: str, context: str, message: str) -> str:
    return translations(locale).pgettext(context, message)


@lru_cache(maxsize=1)
def script_messages() -> tuple[str, ...]:
    """The messages ``static/app.js`` translates (every ``_("...")`` in it), extracted with Babel."""
    from babel.messages.extract import extract

    with open(SCRIPT, "rb") as f:
        return tuple(sorted({str(msg) for _, msg, _, _ in extract("javascript", f, keywords={"_": None})}))


@lru_cache(maxsize=len(LOCALES))
def script_catalogue(locale: str) -> dict[str, str]:
    """The script's messages translated: what each page hands to ``app.js`` as JSON."""
    t = translations(locale)
    return {m: t.gettext(m) for m in script_messages()}


# ---- numbers and dates -------------------------------------------------------------------------


def _locale(ctx: Context) -> str:
    return str(ctx.get("locale") or DEFAULT_LOCALE)


def format_number(value: Any, locale: str, significant: int = 4) -> str:
    """A number rounded to ``significant`` digits (like ``%.4g``), written the locale's way."""
    if value is None:
        return ""
    x = float(value)
    if not math.isfinite(x):
        return "∞" if x > 0 else ("-∞" if x < 0 else "—")
    rounded = float(f"{x:.{significant}g}")
    if rounded != 0 and (abs(rounded) >= 1e15 or abs(rounded) < 1e-9):
        return f"{x:.{significant}g}"
    return format_decimal(rounded, format="#,##0.#############", locale=locale)


def format_fixed(value: Any, locale: str, digits: int = 2) -> str:
    """A number with ``digits`` decimals, written the locale's way."""
    x = float(value)
    if not math.isfinite(x):
        return format_number(x, locale)
    return format_decimal(x, format="#,##0." + "0" * digits if digits else "#,##0", locale=locale)


def format_share(value: Any, locale: str, digits: int = 2, *, signed: bool = False) -> str:
    """A fraction as a percentage (0.0312 -> 3.12%), written the locale's way; ``signed`` adds + or -."""
    x = float(value)
    if not math.isfinite(x):
        return format_number(x, locale)
    pattern = parse_pattern(Locale.parse(locale).percent_formats[None].pattern)  # the locale's own, e.g. "3 %"
    pattern.frac_prec = (digits, digits)
    text = pattern.apply(x, locale)
    return "+" + text if signed and x > 0 and float(f"{x * 100:.{digits}f}") != 0 else text


def format_when(value: datetime | str | None, locale: str) -> str:
    """A moment in UTC, written the locale's way (the page's script shows it in the reader's time zone)."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return format_datetime(value, "medium", tzinfo=UTC, locale=locale) + " UTC"


def language_name(locale: str) -> str:
    try:
        return Locale.parse(locale).get_display_name(locale) or locale
    except (UnknownLocaleError, ValueError):
        return locale


# ---- templates ---------------------------------------------------------------------------------


def install(env: Environment) -> None:
    """Jinja2's i18n extension, gettext of the page's language, and the locale's number filters."""

    @pass_context
    def _gettext(ctx: Context, message: str) -> str:
        return translations(_locale(ctx)).gettext(message)

    @pass_context
    def _ngettext(ctx: Context, singular: str, plural: str, n: int) -> str:
        return translations(_locale(ctx)).ngettext(singular, plural, n)

    @pass_context
    def _pgettext(ctx: Context, context: str, message: str) -> str:
        return translations(_locale(ctx)).pgettext(context, message)

    @pass_context
    def _npgettext(ctx: Context, context: str, singular: str, plural: str, n: int) -> str:
        return translations(_locale(ctx)).npgettext(context, singular, plural, n)

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(  # type: ignore[attr-defined]
        _gettext, _ngettext, newstyle=True, pgettext=_pgettext, npgettext=_npgettext
    )

    @pass_context
    def num(ctx: Context, value: Any, significant: int = 4) -> str:
        return format_number(value, _locale(ctx), significant)

    @pass_context
    def fixed(ctx: Context, value: Any, digits: int = 2) -> str:
        return format_fixed(value, _locale(ctx), digits)

    @pass_context
    def pct(ctx: Context, value: Any, digits: int = 2) -> str:
        return format_share(value, _locale(ctx), digits)

    @pass_context
    def spct(ctx: Context, value: Any, digits: int = 2) -> str:
        return format_share(value, _locale(ctx), digits, signed=True)

    @pass_context
    def when(ctx: Context, value: Any) -> str:
        return format_when(value, _locale(ctx))

    @pass_context
    def tr(ctx: Context, message: Any) -> str:
        """A message made in Python (an error, a status) in the page's language."""
        return localize(str(message), _locale(ctx))

    @pass_context
    def name(ctx: Context, value: Any, context: str = "commodity") -> str:
        """A name from the data (a commodity, a unit, a variant's title) in the page's language,
        where the catalogue has it (ids with hyphens are looked up with spaces)."""
        text = str(value)
        t = translations(_locale(ctx))
        for candidate in (text, text.replace("-", " ")):
            got = t.pgettext(context, candidate)
            if got != candidate:
                return got
        return text if context != "commodity" else text.replace("-", " ")

    env.filters.update(num=num, fixed=fixed, pct=pct, spct=spct, when=when, tr=tr, name=name)
    env.globals.update(LANGUAGE_NAMES=LANGUAGE_NAMES, LOCALES=LOCALES)


# ---- the service's own messages ----------------------------------------------------------------

# the tables of templates live in glasnost.service.messages (re-exported here)

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class Message(NamedTuple):
    """A message matched to its template: the template and the values put into it."""

    template: str
    values: dict[str, str]


def _pattern(template: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(template)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(f"^{regex}$", re.S)


def literal_parts(template: str) -> tuple[str, ...]:
    """The fixed text of a template between its placeholders (what an f-string's shape is compared by)."""
    return tuple(_PLACEHOLDER.split(template)[0::2])


@lru_cache(maxsize=1)
def _compiled() -> tuple[list[tuple[str, re.Pattern[str]]], list[tuple[str, re.Pattern[str]]]]:
    def ordered(templates: tuple[str, ...]) -> list[tuple[str, re.Pattern[str]]]:
        # the most fixed text first, so that the most specific template wins
        return [(t, _pattern(t)) for t in sorted(templates, key=lambda t: -len("".join(literal_parts(t))))]

    return ordered(MESSAGES), ordered(PLACES)


def _find(text: str, patterns: list[tuple[str, re.Pattern[str]]]) -> Message | None:
    for template, pattern in patterns:
        hit = pattern.match(text)
        if hit is not None:
            return Message(template, hit.groupdict())
    return None


def match(message: str, where: str | None = None) -> tuple[Message | None, Message | None, str]:
    """The templates of a service message: (its place, the message itself, the text after the
    place); either template may be None where none matches.

    ``ServiceError`` writes ``"where: message"``: with ``where`` given the message is split there;
    without, at the first ": " whose head is a known place and whose rest a known message."""
    messages, places = _compiled()
    if where is not None and message.startswith(where + ": "):
        rest = message[len(where) + 2 :]
        return _find(where, places), _find(rest, messages), rest
    fallback: tuple[Message | None, Message | None, str] | None = None
    at = message.find(": ")
    while at >= 0:
        place = _find(message[:at], places)
        if place is not None:
            rest = message[at + 2 :]
            whole = _find(rest, messages)
            if whole is not None:
                return place, whole, rest
            fallback = fallback or (place, None, rest)
        at = message.find(": ", at + 2)
    whole = _find(message, messages)
    if whole is not None or fallback is None:
        return None, whole, message
    return fallback


def _value(text: str, locale: str) -> str:
    """A value put into a message: a number written the locale's way, a known word translated."""
    if _NUMBER.fullmatch(text):
        digits = len(text.split(".")[1]) if "." in text else 0
        return format_fixed(float(text), locale, digits) if digits else format_fixed(float(text), locale, 0)
    quote = text[0] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else ""
    bare = text[1:-1] if quote else text
    if bare in WORDS:
        return quote + gettext(locale, bare) + quote
    return text


def _fill(found: Message, locale: str) -> str:
    translated = gettext(locale, found.template)
    values = {k: _value(v, locale) for k, v in found.values.items()}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), translated)


def localize(message: str, locale: str, where: str | None = None) -> str:
    """A message the service made in English, in ``locale`` (as it is where no template matches);
    ``where``: the place the error names (``ServiceError.where``), if known."""
    if locale == DEFAULT_LOCALE or not message:
        return message
    place, whole, rest = match(message, where)
    text = rest if whole is None else _fill(whole, locale)
    if place is None:
        return text if whole is not None else message
    return f"{_fill(place, locale)}: {text}"


def localize_error(exc: Any, locale: str, *, place: bool = True) -> str:
    """A :class:`~glasnost.service.errors.ServiceError` (or any error) in ``locale``; without
    ``place`` the message alone (where the form it is shown on says where)."""
    message, where = str(getattr(exc, "message", exc)), getattr(exc, "where", None)
    if not place and where and message.startswith(where + ": "):
        return localize(message[len(where) + 2 :], locale)
    return localize(message, locale, where)


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---- the catalogues' upkeep (python -m glasnost.service.i18n) ----------------------------------

CATALOGUE_HEADER = """\
# The glasnost planning platform's messages (made by `python -m glasnost.service.i18n update`;
# see docs/i18n.md). Distributed under the same licence as glasnost (AGPL-3.0-or-later).
#"""
CATALOGUE_DATE = datetime(2025, 1, 1, tzinfo=UTC)
"""A fixed date in the catalogues' headers, so that updating them changes only their messages."""

SOURCES = (
    ("**/templates/**.html", "jinja2"),
    ("**/static/app.js", "javascript"),
    ("**.py", "python"),
)
"""Where messages are found under ``glasnost/service`` and how (Babel extraction methods)."""


def extract_messages() -> Any:
    """A Babel catalogue of every message in the service's Python, templates and script."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    root = Path(__file__).parent
    catalog = Catalog(
        project="glasnost",
        version="1",
        msgid_bugs_address="",
        charset="utf-8",
        header_comment=CATALOGUE_HEADER,
        creation_date=CATALOGUE_DATE,
        revision_date=CATALOGUE_DATE,
    )
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
    for filename, lineno, message, comments, context in extract_from_dir(
        str(root),
        method_map=[(pattern, method) for pattern, method in SOURCES if "vendor" not in pattern],
        options_map=options,
        keywords=KEYWORDS,
        strip_comment_tags=True,
    ):
        if "vendor" in filename:
            continue
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update_catalogues() -> dict[str, int]:
    """Extract the messages, write ``locale/messages.pot``, and update each language's ``.po`` (new
    messages added untranslated, gone ones dropped; English filled with the messages themselves).
    Returns how many messages each language still lacks."""
    import copy

    from babel.messages.pofile import write_po

    template = extract_messages()
    with open(LOCALE_DIR / "messages.pot", "wb") as f:
        write_po(f, template, width=100, sort_by_file=True, omit_header=False, include_lineno=False)
    missing = {}
    for locale in LOCALES:
        path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with open(path, "rb") as f:
                catalog = read_po(f, locale=locale)
        else:
            from babel.messages.catalog import Catalog

            catalog = Catalog(
                locale=locale,
                project="glasnost",
                version="1",
                charset="utf-8",
                header_comment=CATALOGUE_HEADER,
                creation_date=CATALOGUE_DATE,
                revision_date=CATALOGUE_DATE,
            )
        catalog.revision_date = CATALOGUE_DATE
        catalog.fuzzy = False  # a fuzzy header would be left out of the compiled catalogue (plural forms too)
        catalog.last_translator = catalog.language_team = "glasnost"
        catalog.update(copy.deepcopy(template), no_fuzzy_matching=True)  # update() shares its messages
        catalog.obsolete.clear()
        if locale == DEFAULT_LOCALE:
            for msg in catalog:
                if msg.id:
                    msg.string = msg.id if isinstance(msg.id, str) else tuple(
                        msg.id[min(i, 1)] for i in range(catalog.num_plurals)
                    )
        missing[locale] = len(untranslated(catalog))
        with open(path, "wb") as f:
            write_po(f, catalog, width=100, sort_by_file=True, include_lineno=False)
    translations.cache_clear()
    return missing


def untranslated(catalog: Any) -> list[str]:
    """The messages of a catalogue with no translation (or a fuzzy one, or a plural form missing)."""
    out = []
    for msg in catalog:
        if not msg.id:
            continue
        strings = msg.string if isinstance(msg.string, (list, tuple)) else [msg.string]
        if msg.fuzzy or not all(strings) or (msg.pluralizable and len(strings) < catalog.num_plurals):
            out.append(msg.id if isinstance(msg.id, str) else msg.id[0])
    return out


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["update"]:
        sys.exit("usage: python -m glasnost.service.i18n update")
    for lang, n in update_catalogues().items():
        print(f"{lang}: {n} messages to translate")
