"""The Vietnamese catalogue is complete, consistent with the code, and actually used.

When a test here fails after you added or changed user-facing text:
  1. run ``scripts/catalog`` (extracts the strings, merges them into the .po),
  2. translate the new entries in agent/locale/vi/LC_MESSAGES/hoso.po,
  3. run ``scripts/catalog`` again to compile hoso.mo, and commit the .po and the .mo.
"""

from __future__ import annotations

import gettext
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.pofile import read_po

from agent import i18n

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("agent", "plugins")
PO_PATH = i18n.LOCALE_DIR / "vi" / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
MO_PATH = PO_PATH.with_suffix(".mo")
# The same keywords as scripts/catalog: the defaults plus `-k _ -k ngettext:1,2`.
KEYWORDS = {**DEFAULT_KEYWORDS, "_": None, "ngettext": (1, 2)}
# As babel.cfg (scripts/catalog): Python sources and the teacher's page's Jinja templates.
METHOD_MAP = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
FIX = (
    "Run scripts/catalog, translate the listed entries in "
    f"{PO_PATH.relative_to(REPO)}, then run scripts/catalog again to compile the .mo."
)

MsgId = str | tuple[str, str]


def _key(msgid: MsgId | tuple[str, ...]) -> MsgId:
    if isinstance(msgid, tuple):
        return (msgid[0], msgid[1])
    return msgid


def _show(msgid: MsgId) -> str:
    return repr(msgid[0] if isinstance(msgid, tuple) else msgid)


def _extracted() -> dict[MsgId, list[str]]:
    """Every translatable string of the source, with where it occurs."""
    found: dict[MsgId, list[str]] = {}
    for folder in SOURCE_DIRS:
        directory = REPO / folder
        if not directory.is_dir():
            continue
        for filename, lineno, message, _comments, _context in extract_from_dir(
            directory, method_map=METHOD_MAP, keywords=KEYWORDS, comment_tags=()
        ):
            if isinstance(message, tuple):
                message = tuple(m for m in message if m)  # ngettext's count argument is None
                if len(message) == 1:
                    message = message[0]
            if not message:
                continue
            found.setdefault(_key(message), []).append(f"{folder}/{filename}:{lineno}")
    return found


def _read_po() -> Catalog:
    with PO_PATH.open("rb") as fh:
        return read_po(fh, locale="vi", domain=i18n.DOMAIN)


def _entries(catalog: Catalog) -> Iterator[Message]:
    return (m for m in catalog if m.id)


def _strings(message: Message) -> tuple[str, ...]:
    if isinstance(message.string, (tuple, list)):
        return tuple(s or "" for s in message.string)
    return (message.string or "",)


def _placeholders(text: str) -> set[str]:
    """The ``{...}`` replacement fields of a str.format text, with conversion and spec."""
    try:
        fields = {
            "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
            for _literal, name, spec, conv in string.Formatter().parse(text)
            if name is not None
        }
    except ValueError:  # not a valid format string: compare the braces as written
        fields = set(re.findall(r"\{[^{}]*\}", text))
    return fields


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    assert PO_PATH.is_file(), f"{PO_PATH} is missing. {FIX}"
    return _read_po()


def test_catalogue_header(catalog: Catalog) -> None:
    headers = dict(catalog.mime_headers)
    assert headers.get("Language") == "vi"
    assert "charset=utf-8" in headers.get("Content-Type", "").lower()
    assert catalog.num_plurals == 1
    assert catalog.plural_expr.strip() in ("0", "(0)")


def test_every_source_string_is_translated(catalog: Catalog) -> None:
    extracted = _extracted()
    assert extracted, "no translatable strings found: is the extraction broken?"
    by_id = {_key(m.id): m for m in _entries(catalog)}
    problems = []
    for msgid, where in sorted(extracted.items(), key=lambda item: item[1][0]):
        message = by_id.get(msgid)
        if message is None:
            problems.append(f"  not in the .po: {_show(msgid)}  ({where[0]})")
        elif message.fuzzy:
            problems.append(f"  fuzzy: {_show(msgid)}  ({where[0]})")
        elif not all(s.strip() for s in _strings(message)):
            problems.append(f"  untranslated: {_show(msgid)}  ({where[0]})")
        elif len(_strings(message)) != catalog.num_plurals and isinstance(msgid, tuple):
            problems.append(f"  wrong number of plural forms: {_show(msgid)}  ({where[0]})")
    assert not problems, (
        f"{len(problems)} user-facing string(s) lack a Vietnamese translation:\n"
        + "\n".join(problems)
        + f"\n{FIX}"
    )


def test_no_fuzzy_or_empty_entries_in_po(catalog: Catalog) -> None:
    bad = [
        _show(_key(m.id))
        for m in _entries(catalog)
        if m.fuzzy or not all(s.strip() for s in _strings(m))
    ]
    assert not bad, "fuzzy or empty entries in the .po:\n  " + "\n  ".join(bad) + f"\n{FIX}"


def test_translations_keep_the_placeholders(catalog: Catalog) -> None:
    problems = []
    for message in _entries(catalog):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        expected = set().union(*(_placeholders(i) for i in ids))
        for index, text in enumerate(_strings(message)):
            if not text:
                continue  # reported by the completeness tests
            got = _placeholders(text)
            if got != expected:
                problems.append(
                    f"  {_show(_key(message.id))} [form {index}]: expected {sorted(expected)}, "
                    f"translation has {sorted(got)}"
                )
    assert not problems, (
        "translations must keep exactly the {placeholders} of their English text:\n"
        + "\n".join(problems)
    )


def test_compiled_catalogue_matches_po(catalog: Catalog) -> None:
    assert MO_PATH.is_file(), f"{MO_PATH} is missing. {FIX}"
    with MO_PATH.open("rb") as fh:
        mo = gettext.GNUTranslations(fh)
    stale = []
    expected_keys: set[object] = {""}
    for message in _entries(catalog):
        if message.fuzzy:
            continue  # pybabel compile leaves fuzzy entries out; reported above
        forms = _strings(message)
        if isinstance(message.id, tuple):
            singular, plural = message.id[0], message.id[1]
            expected_keys.update((singular, i) for i in range(len(forms)))
            for n in range(0, 25):
                want = forms[mo.plural(n)] if mo.plural(n) < len(forms) else None
                if want and mo.ngettext(singular, plural, n) != want:
                    stale.append(f"  {_show(_key(message.id))} (n={n})")
                    break
        else:
            expected_keys.add(message.id)
            if forms[0] and mo.gettext(message.id) != forms[0]:
                stale.append(f"  {_show(message.id)}")
    extra = [repr(k) for k in mo._catalog if k not in expected_keys]  # type: ignore[attr-defined]
    assert not stale and not extra, (
        "agent/locale/vi/LC_MESSAGES/hoso.mo is out of date with the .po "
        "(run scripts/catalog and commit the .mo):\n"
        + "\n".join(stale + [f"  only in the .mo: {k}" for k in extra])
    )
    assert mo.info().get("language") == "vi"
    assert mo.plural(1) == mo.plural(2) == 0


@pytest.fixture
def english_after() -> Iterator[None]:
    yield
    i18n.setup("en")


def test_setup_switches_language(catalog: Catalog, english_after: None) -> None:
    english = "The trash is empty."
    vietnamese = catalog.get(english).string
    assert vietnamese and vietnamese != english

    assert i18n.setup("vi") == "vi"
    assert i18n._(english) == vietnamese
    assert re.search("[\u00c0-\u1ef9]", i18n._(english)), "expected Vietnamese letters"
    plurals = [m for m in _entries(catalog) if isinstance(m.id, tuple)]
    if plurals:
        sing, plur = plurals[0].id[0], plurals[0].id[1]
        one_form = _strings(plurals[0])[0]
        assert i18n.ngettext(sing, plur, 1) == i18n.ngettext(sing, plur, 7) == one_form
    assert i18n._("no such message, left as is") == "no such message, left as is"  # passes through

    assert i18n.setup("en") == "en"
    assert i18n._(english) == english
    if plurals:
        assert i18n.ngettext(sing, plur, 1) == sing
        assert i18n.ngettext(sing, plur, 7) == plur


_LOCALE_VARS = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture
def clean_locale_env(monkeypatch: pytest.MonkeyPatch, english_after: None) -> pytest.MonkeyPatch:
    for var in _LOCALE_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "vi"),  # a systemd service, cron: nothing says otherwise
        ({"LANG": "C"}, "vi"),
        ({"LANG": "POSIX"}, "vi"),
        ({"LANG": "C.UTF-8"}, "vi"),  # Debian's default for a bare system or a container
        ({"LANG": "vi_VN.UTF-8"}, "vi"),  # the teacher's desktop session
        ({"LANG": "en_US.UTF-8"}, "en"),  # the admin's English SSH session
        ({"LANG": "en_GB.UTF-8", "LANGUAGE": "en_GB:en"}, "en"),
        ({"LANG": "fr_FR.UTF-8"}, "en"),  # a language hoso does not speak: its source English
        ({"LANGUAGE": "fr:vi", "LANG": "fr_FR.UTF-8"}, "vi"),  # gettext's list: first it has
        ({"LANGUAGE": "fr", "LANG": "vi_VN.UTF-8"}, "en"),
        ({"LC_MESSAGES": "vi_VN.UTF-8", "LANG": "en_US.UTF-8"}, "vi"),
        ({"LC_ALL": "vi_VN.UTF-8", "LANG": "en_US.UTF-8"}, "vi"),
        ({"LC_ALL": "C.UTF-8", "LANG": "vi_VN.UTF-8"}, "vi"),  # C names no language: passed over
        ({"LC_ALL": "C", "LANG": "en_US.UTF-8"}, "en"),
        ({"LANGUAGE": "vi:en", "LC_ALL": "en_US.UTF-8"}, "vi"),
        ({"LANGUAGE": "en:vi", "LANG": "vi_VN.UTF-8"}, "en"),
        ({"LANGUAGE": "", "LANG": "vi_VN.UTF-8"}, "vi"),  # empty variables are skipped
        ({"LANGUAGE": "", "LANG": "en_US.UTF-8"}, "en"),
        ({"LANG": "VI_vn"}, "vi"),
        ({"LANG": "vi_VN@tcvn"}, "vi"),
    ],
)
def test_detect_language_honours_locale_variables(
    clean_locale_env: pytest.MonkeyPatch, env: dict[str, str], expected: str
) -> None:
    for var, value in env.items():
        clean_locale_env.setenv(var, value)
    assert i18n.detect_language() == expected
    assert i18n.detect_language("auto") == expected
    assert i18n.setup() == expected


def test_configured_language_wins_over_environment(clean_locale_env: pytest.MonkeyPatch) -> None:
    clean_locale_env.setenv("LANG", "vi_VN.UTF-8")
    assert i18n.detect_language("en") == "en"
    clean_locale_env.setenv("LANG", "en_US.UTF-8")
    clean_locale_env.setenv("LANGUAGE", "en")
    assert i18n.detect_language("vi") == "vi"
    assert i18n.setup("vi") == "vi"
    assert i18n._("The trash is empty.") != "The trash is empty."
