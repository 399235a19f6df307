"""Lesson-plan checks (KHBD, Kế hoạch bài dạy): CV 2345 Phụ lục 3 and letter 2174's rules.

A lesson plan has a header (subject, grade, lesson, week, date), sections I–III and, last, a
reflection section ("Rút kinh nghiệm" / "Điều chỉnh sau bài dạy") written after the lesson;
one lesson per file. :func:`check_lesson_plan` reads a :class:`Document` and returns findings.

Invariants: pure (no file, no clock: ``today`` is passed in); headings are matched folded, so
case, accents, NFC/NFD, spacing and numbering ("I.", "1)", "IV -", "Phần 4:", "A.") do not
matter; a block inside a table is never a section heading, because the two-column activities
table names "Khởi động"… in its cells.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from agent.api import (
    FIRST_WEEK,
    LAST_WEEK,
    Block,
    Document,
    Finding,
    RelPath,
    Severity,
    _,
    fold,
    ngettext,
    strip_accents,
    week_dates,
    week_of_path,
)

MAX_HEADING_WORDS = 12
_SHOWN_CHARS = 60  # longest heading or lesson name quoted in a message


class Section(enum.IntEnum):
    OBJECTIVES = 1  # I. Yêu cầu cần đạt
    MATERIALS = 2  # II. Đồ dùng dạy học
    ACTIVITIES = 3  # III. Các hoạt động dạy học chủ yếu
    REFLECTION = 4  # IV. Điều chỉnh sau bài dạy (Rút kinh nghiệm)


SECTION_NAMES = {
    Section.OBJECTIVES: "I. Yêu cầu cần đạt",
    Section.MATERIALS: "II. Đồ dùng dạy học",
    Section.ACTIVITIES: "III. Các hoạt động dạy học chủ yếu",
    Section.REFLECTION: "IV. Điều chỉnh sau bài dạy (Rút kinh nghiệm)",
}

# Folded heading starts. The weak ones ("Mục tiêu", "Chuẩn bị") also head the parts of each
# activity in section III, so there they count only when numbered with a Roman numeral.
_STRONG = {
    Section.OBJECTIVES: ("yeu cau can dat",),
    Section.MATERIALS: ("do dung day hoc", "thiet bi day hoc", "phuong tien day hoc"),
    Section.ACTIVITIES: (
        "cac hoat dong day hoc",
        "hoat dong day hoc",
        "cac hoat dong day va hoc",
        "hoat dong day va hoc",
        "to chuc cac hoat dong day hoc",
        "tien trinh day hoc",
    ),
}
_WEAK = {Section.OBJECTIVES: ("muc tieu",), Section.MATERIALS: ("chuan bi", "do dung")}
_REFLECTION = re.compile(
    r"(?:(?:danh gia|nhan xet|bo sung)(?: va)? )?(?:rut kinh nghiem|dieu chinh)\b"
)
_TITLES = ("ke hoach bai day", "ke hoach bai hoc", "giao an", "bai soan")

_NUMBERING = re.compile(
    r"""\s*(?:
        (?:phần|mục)\s+(?P<part>[ivx]{1,4}|\d{1,2})\s*[.:)\-–—]*   # Phần 4: / PHẦN IV.
      | (?P<roman>[ivx]{1,4})\s*[.):\-–—]+                        # I. / IV - / II)
      | \d{1,2}(?:\.\d{1,2})*\s*[.):\-–—/]+                        # 1. / 1) / 1.2.
      | [a-eđ]\s*[.)]                                              # A. / a)
    )\s*""",
    re.IGNORECASE | re.VERBOSE,
)

# On "plain" text (accents removed, lower case, punctuation kept).
_LESSON_LINE = re.compile(r"(?:bai\s*\d+|ten bai(?: hoc| day)?\s*:)")
_LESSON_NUMBER = re.compile(r"\bbai\s*:?\s*(\d+)")
_HEADER_LINE = re.compile(
    r"(?:(?:mon(?: hoc)?|hoat dong giao duc|lop|khoi|tuan|tiet|so tiet|ten bai(?: hoc| day)?"
    r"|thoi gian(?: thuc hien)?|ngay day|ngay soan|giao vien|nguoi soan|nam hoc"
    r"|to(?: chuyen mon)?)\s*(?:/[^:]*)?:"
    r"|(?:lop|khoi|tuan|tiet|bai) \d+|thu (?:hai|ba|tu|nam|sau|bay)\b|truong (?:tieu hoc|th)\b)"
)
# Approval and signature lines that close a lesson plan: what follows is not the reflection.
_SIGN_OFF = re.compile(
    r"(?:nguoi soan|giao vien soan|ngay soan|(?:ky|ki) duyet|duyet|xac nhan|y kien"
    r"|nhan xet cua (?:to|bgh|ban giam hieu|hieu truong|pho hieu truong|nguoi du gio)"
    r"|to truong|(?:kt\.? ?)?(?:pho )?hieu truong|ban giam hieu|bgh)\b"
    r"|[^,]{0,40}, ngay\b.{0,12}\bthang\b"
)
# A reviewer's note ("Ý kiến tổ trưởng: cần bổ sung…") among the closing lines: what is
# written after its colon is written in the section, unlike a signature block's names.
_NOTE = re.compile(r"(?:y kien|gop y|nhan xet)\b[^:]{0,40}:")
# "(nếu có)", and a date left to fill ("ngày …… tháng …… năm ……").
_PLACEHOLDER = re.compile(r"\(?\s*neu co\s*\)?|\bngay[\W_]*thang[\W_]*nam\b")
# The fixed labels of section III's two-column table (CV 2345): a template's own words.
_TABLE_LABEL = re.compile(
    r"(?:(?:hoat dong cua (?:giao vien|hoc sinh)|mo dau|khoi dong|hinh thanh kien thuc moi"
    r"|kham pha|luyen tap|thuc hanh|van dung|trai nghiem)\s*)+"
)
_EMPTY_LABEL = re.compile(r"[^:]{0,30}:[\W_]*")  # "Ưu điểm: ……" is a form still to fill

_SUBJECT_FIELD = re.compile(
    r"(?:mon(?: hoc)?(?:\s*/\s*hoat dong giao duc)?|hoat dong giao duc)\s*:(?P<value>.*?)"
    r"(?=\b(?:lop|ten bai(?: hoc| day)?|so tiet|tiet|tuan|thoi gian(?: thuc hien)?)\s*:|$)",
    re.MULTILINE,
)
# On NFC text: where a lesson's name ends on its header line ("…; Số tiết: 2").
_NAME_END = re.compile(
    r"(?:\s*[;,–—]\s*|\s+-\s+|\s{2,})(?:số tiết|tiết|tuần|thời gian)\b.*", re.IGNORECASE
)
_LESSON_FIELD = re.compile(
    r"ten bai(?: hoc| day)?\s*:(?P<value>.*?)(?=[;,]?\s*\b(?:so tiet|tiet|tuan|thoi gian)\b|$)",
    re.MULTILINE,
)
_GRADE = re.compile(r"\b(?:lop|khoi)\s*:?\s*(?:[1-5](?!\d)|(?:mot|hai|ba|bon|nam)\b)")
_LESSON = re.compile(r"\bbai\s*:?\s*\d+|(?<!so )\btiet\s*:?\s*\d+|\bbai\s*:\s*[^\W_]")
_WEEK = re.compile(r"\btuan\s*:?\s*(?:thu\s*)?0*(\d{1,2})(?!\d)")
_SUBJECTS = re.compile(
    r"\b(?:tieng viet|toan|dao duc|tu nhien va xa hoi|tnxh|khoa hoc|lich su|dia li|am nhac"
    r"|mi thuat|tin hoc|cong nghe|giao duc the chat|the duc|gdtc|tieng anh|ngoai ngu"
    r"|hoat dong trai nghiem|hdtn|nghe thuat)\b"
)

_TAUGHT_ON = re.compile(
    r"\b(?:thoi gian(?: thuc hien)?|ngay (?:day|thuc hien)|thu (?:hai|ba|tu|nam|sau|bay))\b"
    r"(?P<value>.*?)(?=ngay soan|$)"
)
_PREPARED_ON = re.compile(r"\bngay soan\b(?P<value>.*?)(?=thoi gian|ngay day|$)")
_NUMERIC_DATE = re.compile(
    r"(?<!\d)(?P<d>\d{1,2})(?P<sep>[/.\-])(?P<m>\d{1,2})(?:(?P=sep)(?P<y>\d{4}|\d{2}))?"
    r"(?![\d/.\-]?\d)"
)
_WORDED_DATE = re.compile(
    r"(?<!\d)(?P<d>\d{1,2})\s*,?\s*thang\s*(?P<m>\d{1,2})(?:\s*,?\s*nam\s*(?P<y>\d{4}))?"
)


@dataclass(frozen=True)
class _Line:
    """One block, read for the lesson-plan structure."""

    index: int
    block: Block
    text: str  # NFC, stripped
    plain: str  # accents removed, lower case, punctuation kept
    section: Section | None  # a heading of a known section (before its context is weighed)
    weak: bool  # a generic heading word also used inside section III
    roman: bool  # numbered with a Roman numeral ("I.", "Phần IV")
    title: bool  # "KẾ HOẠCH BÀI DẠY" / "GIÁO ÁN" / "BÀI SOẠN"
    after_colon: str  # for a heading: what follows its first colon (may be content)

    @property
    def lesson_line(self) -> bool:
        return not self.block.in_table and _LESSON_LINE.match(self.plain) is not None


@dataclass(frozen=True)
class _Lesson:
    lines: tuple[_Line, ...]
    headings: tuple[_Line, ...]  # the known sections, in order

    @property
    def header(self) -> tuple[_Line, ...]:
        if not self.headings:
            return self.lines
        return tuple(line for line in self.lines if line.index < self.headings[0].index)

    @property
    def reflections(self) -> tuple[_Line, ...]:
        return tuple(h for h in self.headings if h.section is Section.REFLECTION)


# --- reading blocks -------------------------------------------------------------------------


def _plain(text: str) -> str:
    return " ".join(strip_accents(text).lower().split())


def _words(text: str) -> str:
    """Folded words only: "(nếu có)"-style qualifiers and punctuation removed."""
    text = re.sub(r"\([^)]*\)?", " ", text)
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text)).split())


def _has_content(text: str) -> bool:
    plain = _PLACEHOLDER.sub(" ", _plain(text)).strip()
    if _EMPTY_LABEL.fullmatch(plain):
        return False
    return re.search(r"[^\W_]", plain) is not None


def _all_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters)


def _section_of(key: str) -> tuple[Section, bool] | None:
    """The section a heading's folded words name, and whether the name is a weak one."""
    if _REFLECTION.match(key):
        return Section.REFLECTION, False
    for table, weak in ((_STRONG, False), (_WEAK, True)):
        for section, starts in table.items():
            if any(key == s or key.startswith(s + " ") for s in starts):
                return section, weak
    return None


def _read_line(index: int, block: Block) -> _Line:
    text = unicodedata.normalize("NFC", block.text).strip()
    numbering = _NUMBERING.match(text)
    rest = text[numbering.end() :] if numbering else text
    head, _colon, after = rest.partition(":")
    key = _words(head)
    styled = block.heading_level is not None or block.bold or _all_caps(head)
    candidate = (
        not block.in_table
        and 0 < len(key.split()) <= MAX_HEADING_WORDS
        and (styled or numbering is not None)
    )
    found = _section_of(key) if candidate else None
    title_key = _words(text)
    title = (
        found is None
        and len(title_key.split()) <= MAX_HEADING_WORDS
        and any(title_key == t or title_key.startswith(t + " ") for t in _TITLES)
        and (title_key in _TITLES or (styled and not block.in_table))
    )
    roman = numbering is not None and bool(numbering.group("roman") or numbering.group("part"))
    return _Line(
        index=index,
        block=block,
        text=text,
        plain=_plain(text),
        section=found[0] if found else None,
        weak=found[1] if found else False,
        roman=roman,
        title=title,
        after_colon=after,
    )


# --- lessons --------------------------------------------------------------------------------


def _accepted(line: _Line, current: Sequence[_Line]) -> bool:
    """Whether a block counts as a section heading here: a weak word ("Mục tiêu") after its
    own section or a later one heads a part of an activity, unless numbered I, II…"""
    section = line.section
    if section is None:
        return False
    if not line.weak or line.roman:
        return True
    return all(h.section is not None and h.section < section for h in current)


def _repeats(previous: _Line, line: _Line, lines: Sequence[_Line]) -> bool:
    """The same section named twice in a row ("IV. Điều chỉnh sau bài dạy" then
    "Rút kinh nghiệm:") with nothing written between: one section."""
    if previous.section is not line.section or previous.after_colon.strip():
        return False
    between = lines[previous.index + 1 : line.index]
    return not any(_has_content(b.text) for b in between)


def _header_like(line: _Line) -> bool:
    """A title, a header line ("Lớp: 3", "TUẦN 5", "Thứ hai ngày…"), a heading-looking line
    ("TIẾNG VIỆT", "BÀI 9: ĐỒNG HỒ BÁO THỨC") or a blank one."""
    block = line.block
    looks_like_heading = not block.in_table and (
        block.heading_level is not None or _all_caps(line.text)
    )
    return (
        line.title
        or looks_like_heading
        or _HEADER_LINE.match(line.plain) is not None
        or not _has_content(line.text)
    )


def _header_start(lines: Sequence[_Line], index: int, floor: int) -> int:
    """Where the lesson whose body starts at ``index`` begins: the header-like lines just
    above belong to it, not to the previous lesson's reflection."""
    start = index
    while start > floor and _header_like(lines[start - 1]):
        start -= 1
    return start


def _starts_lesson(line: _Line, current: Sequence[_Line], last_heading: int) -> bool:
    if not current:
        return False
    if line.section is Section.OBJECTIVES or line.title:
        return True
    # "Bài 2: …" after a finished lesson, with sections of its own below it (a weekly file
    # without titles); a "Bài 2: HS còn sai" inside a reflection has no sections below.
    done = any(h.section is Section.REFLECTION for h in current)
    return line.lesson_line and done and line.index < last_heading


def _split_lessons(lines: Sequence[_Line]) -> list[_Lesson]:
    starts = [0]
    current: list[_Line] = []
    headings: list[_Line] = []
    last_heading = max((line.index for line in lines if line.section is not None), default=-1)
    for line in lines:
        is_heading = _accepted(line, current)
        if is_heading and current and _repeats(current[-1], line, lines):
            continue
        if (is_heading or line.section is None) and _starts_lesson(line, current, last_heading):
            starts.append(_header_start(lines, line.index, current[-1].index + 1))
            current = []
        if is_heading:
            current.append(line)
            headings.append(line)
    bounds = zip(starts, [*starts[1:], len(lines)], strict=True)
    return [
        _Lesson(
            lines=tuple(lines[a:b]),
            headings=tuple(h for h in headings if a <= h.index < b),
        )
        for a, b in bounds
    ]


def _read(doc: Document) -> tuple[list[_Line], list[_Lesson]]:
    lines = [_read_line(i, block) for i, block in enumerate(doc.blocks)]
    return lines, _split_lessons(lines)


# --- dates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _DayMonth:
    day: int
    month: int
    year: int | None


def _day_months(text: str) -> list[_DayMonth]:
    found = []
    for pattern in (_NUMERIC_DATE, _WORDED_DATE):
        for m in pattern.finditer(text):
            year = m.group("y")
            full_year = None if year is None else int(year) + (2000 if len(year) == 2 else 0)
            found.append((m.start(), _DayMonth(int(m.group("d")), int(m.group("m")), full_year)))
    return [dm for _pos, dm in sorted(found, key=lambda pair: pair[0])]


def _year_for(tokens: Sequence[_DayMonth], pos: int, year_start: date | None) -> int | None:
    """The year of a date written without one: the next date's ("từ 12/10 đến 16/10/2026"),
    else the previous one's, else the school year's."""
    token = tokens[pos]
    for later in tokens[pos + 1 :]:
        if later.year is not None:
            return later.year - (1 if token.month > later.month else 0)
    for earlier in reversed(tokens[:pos]):
        if earlier.year is not None:
            return earlier.year + (1 if token.month < earlier.month else 0)
    if year_start is not None:
        return year_start.year + (1 if token.month < year_start.month else 0)
    return None


def _dates_in(text: str, year_start: date | None) -> list[date]:
    tokens = _day_months(text)
    dates = []
    for pos, token in enumerate(tokens):
        year = token.year if token.year is not None else _year_for(tokens, pos, year_start)
        if year is None:
            continue
        try:
            dates.append(date(year, token.month, token.day))
        except ValueError:  # 31/02, 12/13: not a date, whatever was meant
            continue
    return dates


def _labelled_dates(
    header: Sequence[_Line], label: re.Pattern[str], year_start: date | None
) -> list[date]:
    return [
        d
        for line in header
        for m in label.finditer(line.plain)
        for d in _dates_in(m.group("value"), year_start)
    ]


def _week(header: Sequence[_Line], path: RelPath) -> int | None:
    for line in header:
        for m in _WEEK.finditer(line.plain):
            if FIRST_WEEK <= int(m.group(1)) <= LAST_WEEK:
                return int(m.group(1))
    return week_of_path(path)


def _date_of(header: Sequence[_Line], path: RelPath, year_start: date | None) -> date | None:
    taught = _labelled_dates(header, _TAUGHT_ON, year_start)
    if taught:
        return max(taught)  # a range ends on its last day
    week = _week(header, path)
    if week is not None and year_start is not None:
        monday, _sunday = week_dates(week, year_start)
        return monday + timedelta(days=4)  # the Friday: the week's lessons are all done
    prepared = _labelled_dates(header, _PREPARED_ON, year_start)
    return max(prepared) if prepared else None


def lesson_date(doc: Document, path: RelPath, year_start: date | None) -> date | None:
    """The day the (first) lesson is taught: "Thời gian thực hiện" / "Ngày dạy" / "Thứ hai
    ngày …" in the header (a range gives its last day), else the Friday of its week ("Tuần N"
    in the header or the path, week 1 starting at ``year_start``), else "Ngày soạn"."""
    _lines, lessons = _read(doc)
    return _date_of(lessons[0].header, path, year_start)


# --- findings -------------------------------------------------------------------------------


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _quoted(texts: Sequence[str]) -> str:
    return ", ".join(f"“{_shown(t)}”" for t in texts)


def _lesson_name(lesson: _Lesson) -> str:
    """The lesson's name from its header ("Tên bài học: …", "Bài 5: …", the title), or ""."""
    for line in lesson.header:
        field = _LESSON_FIELD.match(line.plain)
        if field and _has_content(field.group("value")):
            return _NAME_END.sub("", line.text.partition(":")[2]).strip()
    for line in lesson.header:
        if line.lesson_line or line.title:
            return line.text
    return ""


def _several_lessons(path: RelPath, lessons: Sequence[_Lesson]) -> Finding | None:
    fix = _(
        "Split the file into one file per lesson, each with its own header and its own "
        "“Rút kinh nghiệm” section."
    )
    if len(lessons) > 1:
        names = [
            _lesson_name(lesson) or _("lesson {number} of this file").format(number=n)
            for n, lesson in enumerate(lessons, start=1)
        ]
        message = _(
            "This file holds {count} lessons: {names}. The rules ask for one lesson per file."
        ).format(count=len(lessons), names=_quoted(names))
        return Finding(path, "khbd.several-lessons", Severity.ERROR, message, fix)
    lesson = lessons[0]
    numbered: dict[str, str] = {}
    for line in lesson.header:
        m = _LESSON_NUMBER.search(line.plain)
        if line.lesson_line and m:
            numbered.setdefault(m.group(1), line.text)
    if len(numbered) > 1:
        message = _(
            "The header names several lessons: {names}. The rules ask for one lesson per file."
        ).format(names=_quoted(list(numbered.values())))
        return Finding(path, "khbd.several-lessons", Severity.ERROR, message, fix)
    if len(lesson.reflections) > 1:
        message = _(
            "The file has {count} reflection sections ({names}); there is one per "
            "lesson, so it seems to hold several lessons."
        ).format(count=len(lesson.reflections), names=_quoted([h.text for h in lesson.reflections]))
        return Finding(path, "khbd.several-lessons", Severity.ERROR, message, fix)
    return None


def _reflection_written(lesson: _Lesson, heading: _Line) -> bool:
    """Whether anything real is written under the reflection heading, up to the next
    section, the approval and signature lines, or the end of the lesson."""
    if _has_content(heading.after_colon):
        return True
    later = [h.index for h in lesson.headings if h.index > heading.index]
    end = later[0] if later else lesson.lines[-1].index + 1
    for line in lesson.lines:
        if not heading.index < line.index < end:
            continue
        if _SIGN_OFF.match(line.plain):
            return bool(_NOTE.match(line.plain)) and _has_content(line.after_colon)
        body = line.after_colon if line.section is Section.REFLECTION else line.text
        if _has_content(body):
            return True
    return False


def _reflection_findings(
    path: RelPath, lesson: _Lesson, *, today: date, year_start: date | None
) -> list[Finding]:
    if not lesson.reflections:
        return [
            Finding(
                path,
                "khbd.reflection-missing",
                Severity.ERROR,
                _(
                    "There is no reflection section (“Rút kinh nghiệm” / “Điều chỉnh sau bài "
                    "dạy”); letter 2174 asks every lesson plan to end with one."
                ),
                _("Add “{heading}” as the last section and fill it in after the lesson.").format(
                    heading=SECTION_NAMES[Section.REFLECTION]
                ),
            )
        ]
    findings = []
    last = lesson.reflections[-1]
    after = [h for h in lesson.headings if h.index > last.index]
    if after:
        findings.append(
            Finding(
                path,
                "khbd.reflection-not-last",
                Severity.ERROR,
                _(
                    "The reflection section “{reflection}” is followed by “{other}”; it must be "
                    "the last section."
                ).format(reflection=_shown(last.text), other=_shown(after[0].text)),
                _(
                    "Move “{reflection}” and what is written under it to the end of the lesson "
                    "plan."
                ).format(reflection=_shown(last.text)),
            )
        )
    taught = _date_of(lesson.header, path, year_start)
    if taught is not None and today > taught and not _reflection_written(lesson, last):
        findings.append(
            Finding(
                path,
                "khbd.reflection-empty",
                Severity.ERROR,
                _(
                    "The reflection section “{reflection}” is still empty, though the lesson date "
                    "({date}) has passed."
                ).format(reflection=_shown(last.text), date=taught.strftime("%d/%m/%Y")),
                _("Write under “{reflection}” what went well and what to change next time.").format(
                    reflection=_shown(last.text)
                ),
            )
        )
    return findings


def _sections_missing(path: RelPath, lesson: _Lesson) -> list[Finding]:
    present = {h.section for h in lesson.headings}
    missing = [SECTION_NAMES[s] for s in Section if s not in present and s != Section.REFLECTION]
    if not missing:
        return []
    message = ngettext(
        "Section missing: {names}.", "Sections missing: {names}.", len(missing)
    ).format(names=_quoted(missing))
    fix = _("Add the missing sections in the order of CV 2345 Phụ lục 3: {order}.").format(
        order=_quoted([SECTION_NAMES[s] for s in Section])
    )
    return [Finding(path, "khbd.sections-missing", Severity.WARNING, message, fix)]


def _missing_header_items(header: Sequence[_Line], path: RelPath) -> list[tuple[str, str]]:
    """(what, the header line to fill) for each of subject, grade, lesson, week not named."""
    plain = "\n".join(line.plain for line in header)
    folded = "\n".join(fold(line.text) for line in header)
    subject = _SUBJECTS.search(folded) or any(
        _has_content(m.group("value")) for m in _SUBJECT_FIELD.finditer(plain)
    )
    lesson = _LESSON.search(plain) or any(
        _has_content(m.group("value")) for m in _LESSON_FIELD.finditer(plain)
    )
    named = {
        "subject": bool(subject),
        "grade": _GRADE.search(plain) is not None,
        "lesson": bool(lesson),
        "week": _week(header, path) is not None,
    }
    items = {
        "subject": (_("subject"), "Môn học/hoạt động giáo dục: …"),
        "grade": (_("grade (1–5)"), "Lớp: …"),
        "lesson": (_("lesson"), "Tên bài học: …"),
        "week": (_("week (1–35)"), "Tuần: …"),
    }
    return [items[key] for key, ok in named.items() if not ok]


def _header_incomplete(path: RelPath, lesson: _Lesson) -> list[Finding]:
    missing = _missing_header_items(lesson.header, path)
    if not missing:
        return []
    return [
        Finding(
            path,
            "khbd.header-incomplete",
            Severity.WARNING,
            _("The header (above section I) does not name the {missing}.").format(
                missing=", ".join(what for what, _line in missing)
            ),
            _("Fill in {lines} at the top of the lesson plan.").format(
                lines=_quoted([line for _what, line in missing])
            ),
        )
    ]


def _in_lesson(finding: Finding, number: int, name: str) -> Finding:
    if name:
        message = _("Lesson {number} of this file (“{name}”): {problem}").format(
            number=number, name=_shown(name), problem=finding.message
        )
    else:
        message = _("Lesson {number} of this file: {problem}").format(
            number=number, problem=finding.message
        )
    return Finding(finding.path, finding.rule, finding.severity, message, finding.fix)


def _lesson_findings(
    path: RelPath, lesson: _Lesson, *, today: date, year_start: date | None
) -> list[Finding]:
    return [
        *_header_incomplete(path, lesson),
        *_sections_missing(path, lesson),
        *_reflection_findings(path, lesson, today=today, year_start=year_start),
    ]


def _looks_like_lesson_plan(lines: Sequence[_Line], lessons: Sequence[_Lesson]) -> bool:
    return any(lesson.headings for lesson in lessons) or any(
        line.title or _LESSON_FIELD.search(line.plain) for line in lines
    )


def _written(line: _Line) -> bool:
    """Whether the teacher wrote something on this line: not a title, a heading, a label
    still to fill, the activity table's fixed labels, dots or a placeholder."""
    if line.title:
        return False
    if line.section is not None:
        return _has_content(line.after_colon)
    numbering = _NUMBERING.match(line.text)
    rest = line.text[numbering.end() :] if numbering else line.text
    return not _TABLE_LABEL.fullmatch(_words(rest)) and _has_content(line.text)


def _blank(path: RelPath) -> Finding:
    return Finding(
        path,
        "khbd.blank",
        Severity.INFO,
        _(
            "The lesson plan is still blank: it holds only the template's headings, labels "
            "and dotted lines, so it does not count as handed in yet."
        ),
        _("Fill it in before the lesson, or delete it if it is not needed."),
    )


def check_lesson_plan(
    doc: Document, path: RelPath, *, today: date, year_start: date | None
) -> list[Finding]:
    """What is wrong with a lesson plan's structure (rules ``khbd.*``); a blank one (an
    untouched template) also gets ``khbd.blank``, which the managers' report reads."""
    lines, lessons = _read(doc)
    if not _looks_like_lesson_plan(lines, lessons):
        return [
            Finding(
                path,
                "khbd.not-a-lesson-plan",
                Severity.WARNING,
                _(
                    "This does not look like a lesson plan: no “KẾ HOẠCH BÀI DẠY” title, no "
                    "lesson header and none of the sections I–IV."
                ),
                _(
                    "If it is not a lesson plan, move it out of the lesson-plan folder; if it is, "
                    "start from the blank one that `hoso template khbd` writes."
                ),
            )
        ]
    several = _several_lessons(path, lessons)
    findings = [several] if several else []
    for number, lesson in enumerate(lessons, start=1):
        found = _lesson_findings(path, lesson, today=today, year_start=year_start)
        if len(lessons) > 1:
            name = _lesson_name(lesson)
            found = [_in_lesson(f, number, name) for f in found]
        findings += found
    if not any(_written(line) for line in lines):
        findings.append(_blank(path))
    return findings
