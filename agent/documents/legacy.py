"""Legacy Vietnamese font encodings (TCVN3/ABC, VNI Windows): tables, detection, conversion.

Before Unicode, Vietnamese was typed in fonts that draw Vietnamese letters in place of Western
(cp1252) characters. A .docx stores such text as those Western characters ("Rót kinh nghiÖm"
for "Rút kinh nghiệm") and only the font name (".VnTime", "VNI-Times") says how to read it.

This module owns:

* the two tables, both ways (:func:`decode`; :func:`encode` for tests and tools);
* detection by font name (:func:`font_encoding`, :func:`is_capitals_font`) and, when no font
  says anything, by content (:func:`guess_encoding`);
* the Word plumbing that both the converter and the document reader need: a hardened XML
  parser, the parts of a .docx, the style cascade that says which font a run is in, and the
  runs and text of a paragraph (:class:`WordStyles`, :func:`paragraph_runs`, :func:`run_text`);
* :func:`convert_docx`, a Unicode copy of a .docx.

Invariants: :func:`decode` returns NFC; text that already contains a Unicode Vietnamese letter
(ệ, ư, ơ, đ… at their real code points) is never converted; ``decode(encode(t)) == t`` for
every text :func:`encode` accepts; :func:`convert_docx` never writes to its source.
"""

from __future__ import annotations

import copy
import io
import posixpath
import re
import threading
import unicodedata
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from ..durable import write_atomic
from ..safexml import UnsafeXml
from ..safexml import parse as parse_untrusted
from .model import Legacy, Limit, TooComplex, Unreadable, UnreadableReason

# Vietnamese tones as combining marks, in the order of the table rows below:
# huyền (grave), sắc (acute), hỏi (hook), ngã (tilde), nặng (dot below).
_TONES = ("\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
_ACUTE, _DOT = _TONES[1], _TONES[4]

# TCVN3 (ABC): one byte per letter; each row is the letter without tone, then its five tones.
# ABC fonts have no accented capitals: capitals come from the "H" fonts (.VnTimeH), which draw
# the lower-case codes as capitals.
_TCVN3_ROWS = {
    "a": "aµ¸¶·¹",
    "ă": "¨»¾¼½Æ",
    "â": "©ÇÊÈÉË",
    "e": "eÌÐÎÏÑ",
    "ê": "ªÒÕÓÔÖ",
    "i": "i×ÝØÜÞ",
    "o": "oßãáâä",
    "ô": "«åèæçé",
    "ơ": "¬êíëìî",
    "u": "uïóñòô",
    "ư": "\u00adõøö÷ù",  # ư is 0xAD, the soft hyphen: invisible in a Western font
    "y": "yúýûüþ",
}
_TCVN3_OTHERS = {"đ": "®", "Ă": "¡", "Â": "¢", "Ê": "£", "Ô": "¤", "Ơ": "¥", "Ư": "¦", "Đ": "§"}

# VNI Windows: a base letter followed by a mark byte; a few letters are single bytes.
_VNI_TONE_MARKS = "øùûõï"  # after a e o u y ơ ư
_VNI_HAT_MARKS = "àáåãä"  # â ê ô with a tone; "â" alone is the hat
_VNI_BREVE_MARKS = "èéúüë"  # ă with a tone; "ê" alone is the breve
_VNI_I = "ìíæóò"  # i with a tone: single bytes
_VNI_SINGLES = {"đ": "ñ", "ơ": "ô", "ư": "ö", "ỵ": "î"}


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _tcvn3_table() -> dict[str, str]:
    """Unicode letter → TCVN3 character."""
    table = dict(_TCVN3_OTHERS)
    for base, codes in _TCVN3_ROWS.items():
        table[base] = codes[0]
        for tone, code in zip(_TONES, codes[1:], strict=True):
            table[_nfc(base + tone)] = code
    return table


def _vni_table() -> dict[str, str]:
    """Unicode letter (both cases) → VNI characters."""
    lower = dict(_VNI_SINGLES)
    plain = (("a", "a"), ("e", "e"), ("o", "o"), ("u", "u"), ("y", "y"), ("ơ", "ô"), ("ư", "ö"))
    for base, code in plain:
        toned = zip(_TONES, _VNI_TONE_MARKS, strict=True)
        lower.update({_nfc(base + t): code + m for t, m in toned})
    for hat, code in (("â", "a"), ("ê", "e"), ("ô", "o")):
        lower[hat] = code + "â"
        lower.update({_nfc(hat + t): code + m for t, m in zip(_TONES, _VNI_HAT_MARKS, strict=True)})
    lower["ă"] = "aê"
    lower.update({_nfc("ă" + t): "a" + m for t, m in zip(_TONES, _VNI_BREVE_MARKS, strict=True)})
    lower.update({_nfc("i" + t): code for t, code in zip(_TONES, _VNI_I, strict=True)})
    lower[_nfc("y" + _DOT)] = "î"  # ỵ is a single byte, unlike the other tones of y
    # VNI capitals are the same sequences in capitals ("AØ" = À, "Ñ" = Đ).
    return lower | {letter.upper(): code.upper() for letter, code in lower.items()}


_TO_TCVN3 = _tcvn3_table()
_TO_VNI = _vni_table()
_FROM_TCVN3 = {ord(code): letter for letter, code in _TO_TCVN3.items() if letter.islower()}
_FROM_TCVN3.update({ord(_TCVN3_OTHERS[c]): c for c in "ĂÂÊÔƠƯĐ"})
_FROM_VNI = {code: letter for letter, code in _TO_VNI.items()}
# Keyboards that mix cases ("Ñieàu", a capital base with a small mark) are read by the base.
_FROM_VNI.update(
    (code[0].upper() + code[1], letter.upper())
    for letter, code in _TO_VNI.items()
    if len(code) == 2 and letter.islower()
)
_TCVN3_CODES = frozenset(chr(k) for k in _FROM_TCVN3)
_VNI_CODES = frozenset(c for code in _FROM_VNI for c in code if not c.isascii())
VNI_PAIRS = frozenset(code for code in _FROM_VNI if len(code) == 2)
_VNI_PATTERN = re.compile("|".join(re.escape(c) for c in sorted(_FROM_VNI, key=len, reverse=True)))

# Letters only Unicode has (outside Latin-1), and the combining marks of NFD Vietnamese.
_UNICODE_VIETNAMESE = re.compile("[ăĂđĐĩĨũŨơƠưƯ\u1ea0-\u1ef9\u0300-\u0303\u0306\u0309\u031b\u0323]")


def decode(text: str, encoding: Legacy, *, capitals: bool = False) -> str:
    """The Unicode (NFC) text of ``text`` typed in a legacy font; ``capitals`` when the font
    draws every letter as a capital (TCVN3 "H" fonts such as .VnTimeH)."""
    if encoding is Legacy.TCVN3:
        result = text.translate(_FROM_TCVN3)
    else:
        result = _VNI_PATTERN.sub(lambda m: _FROM_VNI[m.group()], text)
    return _nfc(result.upper() if capitals else result)


def encode(text: str, encoding: Legacy, *, capitals: bool = False) -> str:
    """``text`` as a legacy font stores it (for tests and tools). With ``capitals`` the text is
    written for a TCVN3 "H" font, which shows it in capitals. Characters that are neither
    Vietnamese letters nor codes of the encoding ("–", "…") stay as they are. Raises
    ValueError for a character the encoding cannot represent (e.g. "Ầ" in a plain TCVN3 font,
    or "ø", which a VNI font shows as a mark)."""
    table = _TO_TCVN3 if encoding is Legacy.TCVN3 else _TO_VNI
    codes = _TCVN3_CODES if encoding is Legacy.TCVN3 else _VNI_CODES
    out = []
    for char in _nfc(text.lower() if capitals else text):
        if char in table:
            out.append(table[char])
        elif char in _TO_VNI or char in codes:
            raise ValueError(f"{char!r} has no {encoding.value} code")
        else:
            out.append(char)
    return "".join(out)


def font_encoding(font_name: str | None) -> Legacy | None:
    """The legacy encoding a font implies: ".Vn…" fonts are TCVN3, "VNI-…" fonts are VNI."""
    name = (font_name or "").strip().lower()
    if name.startswith(".vn"):
        return Legacy.TCVN3
    if name.startswith(("vni-", "vni ")):
        return Legacy.VNI
    return None


def is_capitals_font(font_name: str | None) -> bool:
    """A TCVN3 capitals font (".VnTimeH", ".VnArialH"): its name ends with "H"."""
    name = (font_name or "").strip()
    return font_encoding(name) is Legacy.TCVN3 and name.endswith("H")


def has_unicode_vietnamese(text: str) -> bool:
    """Whether the text has a Vietnamese letter at its real Unicode code point (then it is not
    legacy-encoded, whatever its font says)."""
    return _UNICODE_VIETNAMESE.search(text) is not None


# --- Guessing by content ------------------------------------------------------------------

_WORD = re.compile("[A-Za-z\u00a1-\u00ff]+")
_ONSET = "ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdđghklmnprstvx]"
# Rhymes ending in a glide take no final consonant; the others may.
_CLOSED = (
    "iêu|yêu|oai|oay|oao|oeo|uây|uôi|ươi|ươu|uya|uyu|ai|ao|au|ay|âu|ây|eo|êu|ia|iu|oi|ôi|ơi"
    "|ua|ui|ưa|ưi|ưu"
)
_OPEN = "uyê|iê|yê|oa|oă|oe|oo|uâ|uê|uô|uơ|ươ|uy|[aăâeêioôơuưy]"
_SYLLABLE = re.compile(f"(?:{_ONSET})?(?:(?:{_CLOSED})|(?:{_OPEN})(?P<coda>ch|nh|ng|[cmnpt])?)")
# TCVN3 codes that are symbols in Western text: a word holding one is not English or French.
_TCVN3_SYMBOLS = frozenset(chr(k) for k in _FROM_TCVN3 if 0xA1 <= k <= 0xBE or chr(k) in "×÷")
_CASE_BREAK = re.compile("[a-zß-öø-ÿ][À-ÖØ-Þ]")  # "nghiÖm": a capital inside a word
# A VNI mark after a vowel; "oà", "oá" and "oã" are left out because Unicode Vietnamese spells
# "hoà", "toán" and "hoãn" with the same characters.
_VNI_MARKED = re.compile("(?![oO][àáãÀÁÃ])[aeouyôöAEOUYÔÖ][øõâàáåãäêèéüØÕÂÀÁÅÃÄÊÈÉÜ]")


def is_syllable(word: str) -> bool:
    """Whether ``word`` is one well-formed Vietnamese syllable (any case, NFC or NFD)."""
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = [c for c in decomposed if c in _TONES]
    bare = _nfc("".join(c for c in decomposed if c not in _TONES))
    match = _SYLLABLE.fullmatch(bare)
    if match is None or len(tones) > 1:
        return False
    # A syllable closed by c, ch, p or t only takes the sắc or nặng tone.
    return match.group("coda") not in ("c", "ch", "p", "t") or tones in ([_ACUTE], [_DOT])


def _marked(word: str, encoding: Legacy) -> bool:
    """Whether the word shows a sign of its encoding that Western words do not have."""
    if encoding is Legacy.VNI:
        return _VNI_MARKED.search(word) is not None
    if not any(c.isascii() for c in word):
        return False
    return bool(_TCVN3_SYMBOLS.intersection(word)) or _CASE_BREAK.search(word) is not None


@dataclass(frozen=True)
class _Tally:
    valid: int  # words that change and become Vietnamese syllables
    invalid: int  # words that change into something no Vietnamese word looks like
    marked: int  # valid words that also show a sign of the encoding

    def fires(self) -> bool:
        # One word is too little to judge: "MEÁN" (Irish) reads as VNI "MẾN".
        return self.marked >= 1 and self.valid >= 2 and self.valid >= 2 * self.invalid


def _tally(words: Sequence[str], encoding: Legacy) -> _Tally:
    valid = invalid = marked = 0
    for word in words:
        decoded = decode(word, encoding)
        if decoded == word:
            continue
        if not is_syllable(decoded):
            invalid += 1
        else:
            valid += 1
            marked += _marked(word, encoding)
    return _Tally(valid, invalid, marked)


def guess_encoding(text: str) -> Legacy | None:
    """The legacy encoding the text was typed in, judged by its content alone, or None.

    It fires only when the words that a decoding changes mostly become Vietnamese syllables
    and at least one shows a sign no English, French or German word has (a symbol inside a
    word, a capital after small letters, a VNI mark after a vowel). Text holding a Unicode
    Vietnamese letter is never legacy."""
    if text.isascii() or has_unicode_vietnamese(text):
        return None
    words = [w for w in _WORD.findall(text) if not w.isascii()]
    tallies = {enc: _tally(words, enc) for enc in Legacy}
    firing = [enc for enc in Legacy if tallies[enc].fires()]
    if len(firing) == 1:
        return firing[0]
    if not firing:
        return None
    scores = {e: (tallies[e].marked, tallies[e].valid - tallies[e].invalid) for e in firing}
    best = max(firing, key=scores.__getitem__)
    return best if list(scores.values()).count(scores[best]) == 1 else None


# --- Per-run plans: the reader and the converter decide the same way ------------------------

Plan = tuple[Legacy, bool] | None  # (encoding, capitals font) of a run, or None: Unicode


def plan_runs(texts: Sequence[str], fonts: Sequence[str | None]) -> list[Plan]:
    """How to read each run of one paragraph: by its font when the font is a legacy one
    (unless the run holds Unicode Vietnamese letters); the runs no font speaks for are
    guessed together, as one paragraph."""
    plans: list[Plan] = []
    unknown: list[int] = []
    for index, (text, font) in enumerate(zip(texts, fonts, strict=True)):
        encoding = font_encoding(font)
        if encoding is None:
            unknown.append(index)
            plans.append(None)
        elif has_unicode_vietnamese(text):
            plans.append(None)
        else:
            plans.append((encoding, is_capitals_font(font)))
    if unknown:
        guessed = guess_encoding("".join(texts[i] for i in unknown))
        if guessed is not None:
            for index in unknown:
                plans[index] = (guessed, False)
    return plans


def decode_pieces(pieces: Sequence[str], plans: Sequence[Plan]) -> list[str]:
    """Each piece decoded by its plan. A VNI letter split between two pieces (base letter at
    the end of one run, its mark at the start of the next) is decoded whole, in the second."""
    moved = list(pieces)
    for i in range(len(moved) - 1):
        plan = plans[i]
        if plan is None or plan != plans[i + 1] or plan[0] is not Legacy.VNI:
            continue
        if moved[i] and moved[i + 1] and moved[i][-1] + moved[i + 1][0] in VNI_PAIRS:
            moved[i], moved[i + 1] = moved[i][:-1], moved[i][-1] + moved[i + 1]
    return [
        piece if plan is None else decode(piece, plan[0], capitals=plan[1])
        for piece, plan in zip(moved, plans, strict=True)
    ]


# --- Word (.docx) plumbing --------------------------------------------------------------------

W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # all parts together: more than any real record
# One XML part: a 300-page book's document.xml is a few MB; a part past this is a zip bomb.
MAX_PART_BYTES = 64 * 1024 * 1024
# Unpacked / packed bytes of a large XML part: real ones compress 5–20 times, bombs 1000 times.
MAX_PART_RATIO = 100
RATIO_FROM_BYTES = 8 * 1024 * 1024
UNICODE_FONT = "Times New Roman"
# Styles based on styles: real templates go a few deep. A hostile file's chain of 60,000 cost
# the worker's whole processor limit (each style's chain walked, and loops looked for, anew);
# for Word's styles and for OpenDocument's.
MAX_STYLE_CHAIN = 32


XmlElement = etree._Element  # for the readers' type hints, without importing lxml there


def w(tag: str) -> str:
    """The Clark name of a WordprocessingML tag or attribute."""
    return f"{{{W_NS}}}{tag}"


_W_VAL = w("val")
_ON = frozenset({"1", "true", "on"})


class PackageError(ValueError):
    """A zip package (.docx, .odt, .ods, .pptx, .xlsx) that is not what it claims: a missing or
    damaged part, or XML that does not parse or has a DOCTYPE."""


def check_unpacked_size(package: zipfile.ZipFile) -> None:
    """Refuse a package (TooComplex SIZE) that would unpack past :data:`MAX_UNPACKED_BYTES`,
    or any of whose XML parts is too large or too compressed (:func:`check_part`), before
    anything is decompressed. The declared sizes bound the work: zipfile never unpacks an
    entry past its declared size (the CRC check fails instead)."""
    total = 0
    for info in package.infolist():
        total += info.file_size
        if info.filename.lower().endswith((".xml", ".rels")):
            check_part(info)
    if total > MAX_UNPACKED_BYTES:
        raise TooComplex(Limit.SIZE, f"declares {total} bytes unpacked")


def check_part(info: zipfile.ZipInfo) -> None:
    """Refuse (TooComplex SIZE) one part that declares more than :data:`MAX_PART_BYTES`
    unpacked, or a large part that unpacks to more than :data:`MAX_PART_RATIO` times its
    packed size, without unpacking it."""
    unpacked, packed = info.file_size, max(info.compress_size, 1)
    if unpacked > MAX_PART_BYTES:
        raise TooComplex(Limit.SIZE, f"part {info.filename} declares {unpacked} bytes unpacked")
    if unpacked > RATIO_FROM_BYTES and unpacked > MAX_PART_RATIO * packed:
        raise TooComplex(
            Limit.SIZE, f"part {info.filename} unpacks {unpacked // packed} times its size"
        )


def parse_xml(data: bytes) -> etree._Element:
    """The root of an XML part; PackageError when it does not parse or has a DOCTYPE."""
    try:
        return parse_untrusted(data)
    except UnsafeXml as exc:
        raise PackageError(f"bad XML: {exc.reason}") from exc


def read_bytes(package: zipfile.ZipFile, name: str | zipfile.ZipInfo) -> bytes:
    """One entry of a package, unpacked; PackageError if it is missing or damaged,
    TooComplex if it is too large (:func:`check_part`)."""
    try:
        check_part(name if isinstance(name, zipfile.ZipInfo) else package.getinfo(name))
        return package.read(name)
    except KeyError as exc:
        raise PackageError(f"no part {name}") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # damaged data, an unknown compression method, an encrypted entry
        raise PackageError(f"part {name}: {exc}") from exc


def read_part(package: zipfile.ZipFile, name: str) -> etree._Element:
    """The parsed XML of one part of a package; PackageError if it is missing or damaged."""
    return parse_xml(read_bytes(package, name))


def _target(source: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(source), target))


def main_document(package: zipfile.ZipFile) -> str:
    """The name of the main document part (usually word/document.xml)."""
    for rel in read_part(package, "_rels/.rels"):
        if rel.get("Type", "").endswith("/officeDocument") and rel.get("Target"):
            return _target("", rel.get("Target", ""))
    raise PackageError("no main document")


def related_parts(package: zipfile.ZipFile, source: str) -> list[tuple[str, str]]:
    """(kind, part name) for each internal relationship of ``source``; kind is the last word
    of the relationship type ("styles", "header", "footer"…)."""
    return [(kind, part) for _id, kind, part in _relationships(package, source)]


def related_by_id(package: zipfile.ZipFile, source: str) -> dict[str, str]:
    """Part name by relationship id (``r:id="rId2"``) for the internal relationships of
    ``source``: how a presentation names its slides, in order."""
    return {rel_id: part for rel_id, _kind, part in _relationships(package, source)}


def _relationships(package: zipfile.ZipFile, source: str) -> list[tuple[str, str, str]]:
    folder, name = posixpath.split(source)
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in package.namelist():
        return []
    return [
        (
            rel.get("Id", ""),
            rel.get("Type", "").rsplit("/", 1)[-1],
            _target(source, rel.get("Target", "")),
        )
        for rel in read_part(package, rels)
        if rel.tag == f"{{{_REL_NS}}}Relationship" and rel.get("TargetMode") != "External"
    ]


def _flag(element: etree._Element | None) -> bool | None:
    """An on/off property (w:b): None when absent, so the style cascade goes on."""
    if element is None:
        return None
    value = element.get(_W_VAL)
    return value is None or value in _ON


def _font(rpr: etree._Element | None) -> str | None:
    """The font a run-properties element gives to non-ASCII Latin text (hAnsi, then ascii); a
    theme font is reported as "+theme" (never a legacy font)."""
    if rpr is None:
        return None
    fonts = rpr.find(w("rFonts"))
    if fonts is None:
        return None
    for attribute in ("hAnsiTheme", "hAnsi", "asciiTheme", "ascii"):
        value = fonts.get(w(attribute))
        if value is not None:
            return "+theme" if attribute.endswith("Theme") else value
    return None


_HEADING_NAME = re.compile(r"(?:heading|đề mục|tiêu đề)\s*([1-9])")
_TITLE_NAMES = {"title", "tiêu đề"}


def _level_from_name(name: str) -> int | None:
    folded = _nfc(name).strip().lower()
    if folded in _TITLE_NAMES:
        return 0
    match = _HEADING_NAME.fullmatch(folded)
    return int(match.group(1)) if match else None


def _outline_level(ppr: etree._Element | None) -> int | None:
    """Heading level from w:outlineLvl (0 = Heading 1); -1 for body text (level 9)."""
    element = ppr.find(w("outlineLvl")) if ppr is not None else None
    if element is None:
        return None
    value = element.get(_W_VAL, "")
    return int(value) + 1 if value.isdigit() and int(value) < 9 else -1


_STYLES_CACHE_SIZE = 32
_STYLES_CACHE: dict[tuple[int, int, int], WordStyles] = {}
_STYLES_LOCK = threading.Lock()


class WordStyles:
    """Word's style cascade, enough to say a run's font and boldness and a paragraph's
    heading level: direct formatting, then the character style, then the paragraph style
    (each following ``basedOn``), then the document defaults."""

    def __init__(self, styles: etree._Element | None) -> None:
        self._styles: dict[str, etree._Element] = {}
        self._default_paragraph: str | None = None
        self._default_rpr: etree._Element | None = None
        self._inherited: dict[tuple[str | None, str | None], tuple[str | None, bool]] = {}
        self._levels: dict[str | None, int | None] = {}
        if styles is None:
            return
        for style in styles.iter(w("style")):
            style_id = style.get(w("styleId"))
            if style_id is None:
                continue
            self._styles[style_id] = style
            if style.get(w("type")) == "paragraph" and style.get(w("default")) in _ON:
                self._default_paragraph = style_id
        self._default_rpr = styles.find(f"{w('docDefaults')}/{w('rPrDefault')}/{w('rPr')}")

    @classmethod
    def of(cls, package: zipfile.ZipFile, related: Sequence[tuple[str, str]]) -> WordStyles:
        """The styles of a document, from the parts related to its main part.

        Documents made from one template share their styles part byte for byte, and parsing
        it is most of the cost of reading a lesson plan: parsed styles are kept by the
        part's CRC-32 and size, which the zip directory gives without unpacking anything."""
        part = next((name for kind, name in related if kind == "styles"), None)
        if part is None:
            return cls(None)
        try:
            info = package.getinfo(part)
        except KeyError as exc:
            raise PackageError(f"no part {part}") from exc
        key = (info.CRC, info.file_size, info.compress_size)
        with _STYLES_LOCK:
            cached = _STYLES_CACHE.get(key)
        if cached is not None:
            return cached
        styles = cls(read_part(package, part))
        with _STYLES_LOCK:
            _STYLES_CACHE[key] = styles
            while len(_STYLES_CACHE) > _STYLES_CACHE_SIZE:
                del _STYLES_CACHE[next(iter(_STYLES_CACHE))]
        return styles

    def chain(self, style_id: str | None) -> list[etree._Element]:
        """The style and the styles it is based on, nearest first (loops cut)."""
        found: list[etree._Element] = []
        while style_id is not None and style_id in self._styles and len(found) < MAX_STYLE_CHAIN:
            style = self._styles[style_id]
            if any(style is s for s in found):
                break
            found.append(style)
            based = style.find(w("basedOn"))
            style_id = based.get(_W_VAL) if based is not None else None
        return found

    def paragraph_style(self, paragraph: etree._Element) -> str | None:
        element = paragraph.find(f"{w('pPr')}/{w('pStyle')}")
        return element.get(_W_VAL) if element is not None else self._default_paragraph

    def run_format(
        self, run: etree._Element, paragraph_style: str | None
    ) -> tuple[str | None, bool]:
        """(font name, bold) of a run as Word shows it."""
        rpr = run.find(w("rPr"))
        font, bold = _font(rpr), _flag(rpr.find(w("b")) if rpr is not None else None)
        if font is None or bold is None:
            style = rpr.find(w("rStyle")) if rpr is not None else None
            inherited = self._inherited_format(
                style.get(_W_VAL) if style is not None else None, paragraph_style
            )
            font = font if font is not None else inherited[0]
            bold = bold if bold is not None else inherited[1]
        return font, bold

    def _inherited_format(
        self, run_style: str | None, paragraph_style: str | None
    ) -> tuple[str | None, bool]:
        key = (run_style, paragraph_style)
        if key not in self._inherited:
            levels = [s.find(w("rPr")) for s in self.chain(run_style) + self.chain(paragraph_style)]
            levels.append(self._default_rpr)
            fonts = (_font(rpr) for rpr in levels)
            flags = (_flag(rpr.find(w("b"))) for rpr in levels if rpr is not None)
            self._inherited[key] = (
                next((f for f in fonts if f is not None), None),
                next((b for b in flags if b is not None), False),
            )
        return self._inherited[key]

    def heading_level(self, paragraph: etree._Element, paragraph_style: str | None) -> int | None:
        """0 for a title, N for a level-N heading, None for body text: the paragraph's own
        outline level, else its style's name ("Heading 2", "Title"), else the style's
        outline level."""
        direct = _outline_level(paragraph.find(w("pPr")))
        if direct is not None:
            return direct if direct >= 0 else None
        if paragraph_style not in self._levels:
            self._levels[paragraph_style] = self._style_level(paragraph_style)
        return self._levels[paragraph_style]

    def _style_level(self, style_id: str | None) -> int | None:
        chain = self.chain(style_id)
        for style in chain:
            name = style.find(w("name"))
            level = _level_from_name(name.get(_W_VAL, "")) if name is not None else None
            if level is not None:
                return level
        for style in chain:
            level = _outline_level(style.find(w("pPr")))
            if level is not None:
                return level if level >= 0 else None
        return None


# Elements inside a paragraph that hold its runs; deleted text and text boxes are left out.
_RUN_HOLDERS = frozenset(
    w(t)
    for t in (
        "hyperlink",
        "ins",
        "smartTag",
        "sdt",
        "sdtContent",
        "fldSimple",
        "customXml",
        "moveTo",
        "bdo",
        "dir",
    )
)
_W_R, _W_T = w("r"), w("t")
_RUN_TEXT = {
    w("tab"): "\t",
    w("br"): "\n",
    w("cr"): "\n",
    w("noBreakHyphen"): "-",
    w("softHyphen"): "\u00ad",
}


def paragraph_runs(paragraph: etree._Element) -> Iterator[etree._Element]:
    """The runs of a paragraph in order, including those inside links, content controls and
    tracked insertions."""
    for child in paragraph:
        if child.tag == _W_R:
            yield child
        elif child.tag in _RUN_HOLDERS:
            yield from paragraph_runs(child)


def run_items(run: etree._Element) -> Iterator[tuple[etree._Element, str]]:
    """The text-bearing children of a run with their text (a soft hyphen is U+00AD, which is
    "ư" in TCVN3)."""
    for child in run:
        if child.tag == _W_T:
            yield child, child.text or ""
        elif child.tag in _RUN_TEXT:
            yield child, _RUN_TEXT[child.tag]


def run_text(run: etree._Element) -> str:
    return "".join(text for _, text in run_items(run))


# --- Converting a .docx --------------------------------------------------------------------

_TEXT_PARTS = frozenset({"header", "footer", "footnotes", "endnotes"})
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"


def convert_docx(src: Path, dst: Path) -> int:
    """Write a Unicode copy of a .docx: every legacy run (by its font, or guessed per
    paragraph as :mod:`documents` reads it) in the body, tables, headers, footers and notes
    gets its text converted and the font "Times New Roman". Other parts are copied byte for
    byte; the copy replaces ``dst`` whole or not at all (agent.durable). Returns the number
    of runs converted. Raises Unreadable (ENCRYPTED, CORRUPT) for a file it cannot read,
    TooComplex for a zip bomb and ValueError when ``dst`` is ``src``."""
    if dst.resolve() == src.resolve():
        raise ValueError("the Unicode copy must not replace the original")
    with src.open("rb") as head:
        if head.read(8) == _OLE_MAGIC:
            raise Unreadable(UnreadableReason.ENCRYPTED, "OLE container")
    try:
        with zipfile.ZipFile(src) as package:
            check_unpacked_size(package)
            replaced, count = _converted_parts(package)
            _write_copy(package, dst, replaced)
    except (PackageError, zipfile.BadZipFile) as exc:
        raise Unreadable(UnreadableReason.CORRUPT, str(exc)) from exc
    return count


def _converted_parts(package: zipfile.ZipFile) -> tuple[dict[str, bytes], int]:
    main = main_document(package)
    related = related_parts(package, main)
    styles = WordStyles.of(package, related)
    replaced: dict[str, bytes] = {}
    total = 0
    for name in [main] + [name for kind, name in related if kind in _TEXT_PARTS]:
        root = read_part(package, name)
        count = sum(_convert_paragraph(p, styles) for p in root.iter(w("p")))
        if count:
            replaced[name] = etree.tostring(
                root, xml_declaration=True, encoding="UTF-8", standalone=True
            )
            total += count
    return replaced, total


def _convert_paragraph(paragraph: etree._Element, styles: WordStyles) -> int:
    paragraph_style = styles.paragraph_style(paragraph)
    runs = list(paragraph_runs(paragraph))
    items = [list(run_items(run)) for run in runs]
    texts = ["".join(text for _, text in run) for run in items]
    fonts = [styles.run_format(run, paragraph_style)[0] for run in runs]
    plans = plan_runs(texts, fonts)
    flat = [(e, text, plan) for run, plan in zip(items, plans, strict=True) for e, text in run]
    decoded = decode_pieces([t for _, t, _ in flat], [p for _, _, p in flat])
    for (element, text, _), new in zip(flat, decoded, strict=True):
        if new != text:
            _set_text(element, new)
    converted = [run for run, text, plan in zip(runs, texts, plans, strict=True) if plan and text]
    for run in converted:
        _set_unicode_font(run)
    return len(converted)


def _set_text(element: etree._Element, text: str) -> None:
    """Put converted text into a w:t (a soft hyphen, TCVN3 "ư", becomes a w:t)."""
    if element.tag != _W_T:
        element.tag = _W_T
        element.attrib.clear()
    element.text = text
    if text != text.strip():
        element.set(_XML_SPACE, "preserve")


def _set_unicode_font(run: etree._Element) -> None:
    rpr = run.find(w("rPr"))
    if rpr is None:
        rpr = etree.Element(w("rPr"))
        run.insert(0, rpr)
    fonts = rpr.find(w("rFonts"))
    if fonts is None:
        fonts = etree.Element(w("rFonts"))
        # rFonts follows rStyle in the schema's order
        rpr.insert(1 if rpr.find(w("rStyle")) is not None else 0, fonts)
    for attribute in ("asciiTheme", "hAnsiTheme", "cstheme"):
        fonts.attrib.pop(w(attribute), None)
    for attribute in ("ascii", "hAnsi", "cs"):
        fonts.set(w(attribute), UNICODE_FONT)


def _write_copy(package: zipfile.ZipFile, dst: Path, replaced: dict[str, bytes]) -> None:
    """Every entry of ``package`` into ``dst`` (replaced parts swapped in), atomically.
    Built in memory: check_unpacked_size has bounded what the package holds."""
    content = io.BytesIO()
    with zipfile.ZipFile(content, "w") as out:
        for info in package.infolist():
            data = replaced.get(info.filename)
            if data is None:
                data = read_bytes(package, info)
            # writestr updates the ZipInfo it is given: keep the source's intact
            out.writestr(copy.copy(info), data)
    write_atomic(dst, content.getvalue(), mode=0o600)
