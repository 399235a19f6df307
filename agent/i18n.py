"""User-facing text through gettext, in Vietnamese or English.

Source strings are English. The language is chosen once per process by :func:`setup`:
the config's ``language`` key when it is ``vi`` or ``en`` (an explicit choice), else the
session's locale variables (:func:`detect_language`), Vietnamese where they name no language.
Call ``_`` at the moment a message is shown, not at import time, so that the choice applies.
"""

from __future__ import annotations

import contextlib
import gettext
import os
import threading
from collections.abc import Iterator
from pathlib import Path

DOMAIN = "hoso"
LOCALE_DIR = Path(__file__).with_name("locale")

_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"
# A thread's own language for a while (:func:`language`): a page shown in English to one
# request while the agent's loop goes on writing its messages in the process's language.
_local = threading.local()


# The locale variables in the order gettext reads them.
LOCALE_VARIABLES = ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")


def detect_language(configured: str = "auto") -> str:
    """``configured`` when it is "vi" or "en"; for "auto", the first locale variable that
    names a language decides: Vietnamese for ``vi…``, English for any other (hoso speaks
    only those two; in the LANGUAGE list, the first of those two it names). A variable that
    is empty or names no language (``C``, ``POSIX``, ``C.UTF-8``: a service's or a bare
    system's locale) is passed over; when none names one, Vietnamese: hoso's users are
    Vietnamese teachers, and an English-speaking admin's session names its language
    (``en_US.UTF-8``)."""
    if configured in ("vi", "en"):
        return configured
    for var in LOCALE_VARIABLES:
        # LANGUAGE is a list ("fr:vi"): its first language hoso speaks, as gettext does.
        named = [n for n in map(_named_language, os.environ.get(var, "").split(":")) if n]
        if named:
            return next((n for n in named if n in ("vi", "en")), "en")
    return "vi"


def _named_language(value: str) -> str:
    """The language code of a locale (``vi_VN.UTF-8`` → "vi"), "" when it names none."""
    name = value.strip().split(".")[0].split("@")[0].lower()
    return "" if name in ("", "c", "posix") else name.split("_")[0].split("-")[0]


def setup(configured: str = "auto") -> str:
    """Select the catalogue for this process; returns the language code chosen."""
    global _translations, _language
    language = detect_language(configured)
    _language = language
    _translations = gettext.translation(
        DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True
    )
    return language


def current_language() -> str:
    """The language messages are shown in now: "vi" or "en"."""
    return getattr(_local, "language", None) or _language


@contextlib.contextmanager
def language(code: str) -> Iterator[None]:
    """Messages in ``code`` ("vi" or "en") on this thread for a while: text written for
    others (an inspection email to the school) is in their language, not the teacher's, and
    a request to the teacher's page in the language the page is shown in. Other threads go
    on in theirs."""
    before = (getattr(_local, "translations", None), getattr(_local, "language", None))
    _local.translations = gettext.translation(
        DOMAIN, localedir=LOCALE_DIR, languages=[code], fallback=True
    )
    _local.language = code
    try:
        yield
    finally:
        _local.translations, _local.language = before


def _active() -> gettext.NullTranslations:
    return getattr(_local, "translations", None) or _translations


def _(message: str) -> str:
    return _active().gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active().ngettext(singular, plural, n)


setup()
