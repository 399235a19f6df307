"""User-facing text through gettext, in Vietnamese or English.

Source strings are English. The language is chosen once per process by :func:`setup`:
the config's ``language`` key when it is ``vi`` or ``en``, else the usual locale variables
(LANGUAGE, LC_ALL, LC_MESSAGES, LANG); Vietnamese when they name ``vi``. Call ``_`` at the
moment a message is shown, not at import time, so that the choice applies.
"""

from __future__ import annotations

import contextlib
import gettext
import os
from collections.abc import Iterator
from pathlib import Path

DOMAIN = "hoso"
LOCALE_DIR = Path(__file__).with_name("locale")

_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def detect_language(configured: str = "auto") -> str:
    if configured in ("vi", "en"):
        return configured
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var, "")
        if value:
            return "vi" if value.split(":")[0].lower().startswith("vi") else "en"
    return "en"


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
    return _language


@contextlib.contextmanager
def language(code: str) -> Iterator[None]:
    """Messages in ``code`` ("vi" or "en") for a while: text written for others (an
    inspection email to the school) is in their language, not the teacher's."""
    before = _language
    setup(code)
    try:
        yield
    finally:
        setup(before)


def _(message: str) -> str:
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.ngettext(singular, plural, n)


setup()
