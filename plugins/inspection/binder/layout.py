"""The page plan of a binder (pure: no file, no PDF): where each record starts, which pages
are blank, what the contents say.

Page 1 is the cover, page 2 its blank back, the contents start on page 3. Each week starts
on an odd (right-hand) page, a blank page put before it where needed, so that the week can
be taken out of the binding whole. Page numbers are the physical pages of the PDF: "Trang
x/y" in a footer, the contents and the PDF viewer all say the same number. The cover and
the blank pages carry no number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

COVER_PAGES = 2  # the cover and its blank back
CONTENTS_FIRST = COVER_PAGES + 1


@dataclass(frozen=True)
class Entry:
    """A record of the binder, in binding order."""

    week: int | None  # None: no week known (after the weeks)
    subject: str  # "" when the record is in no subject folder
    lesson: str  # its title in the contents: the file name without its suffix
    pages: int


@dataclass(frozen=True)
class Line:
    """One line of the contents: a week (level 0), a subject (1) or a lesson (2)."""

    level: int
    title: str
    page: int


@dataclass(frozen=True)
class PagePlan:
    contents_pages: int
    lines: tuple[Line, ...]
    first_pages: tuple[int, ...]  # each entry's first page
    blanks: tuple[int, ...]  # the pages left blank (the cover's back, before odd-page weeks)
    closing_first: int | None  # the first page of "what is not included", when there is one

    @property
    def records_first(self) -> int:
        return CONTENTS_FIRST + self.contents_pages

    def numbered(self, page: int) -> bool:
        return page > 1 and page not in self.blanks


def week_title(week: int | None) -> str:
    return f"Tuần {week}" if week is not None else "Không rõ tuần"


CLOSING_TITLE = "Những hồ sơ không có trong tập"


def plan(entries: Sequence[Entry], *, lines_per_page: int, closing: bool) -> PagePlan:
    """The pages of a binder holding ``entries`` (in binding order), with a closing page
    when ``closing``; ``lines_per_page`` contents lines fit on a page."""
    heads = outline(entries)
    contents_pages = max(1, math.ceil((len(heads) + (1 if closing else 0)) / lines_per_page))
    page = CONTENTS_FIRST + contents_pages
    blanks = [2]
    first_pages = []
    for index, entry in enumerate(entries):
        if (index == 0 or entries[index - 1].week != entry.week) and page % 2 == 0:
            blanks.append(page)  # the week starts on the right-hand page
            page += 1
        first_pages.append(page)
        page += entry.pages
    lines = [Line(level, title, first_pages[index]) for level, title, index in heads]
    closing_first = page if closing else None
    if closing_first is not None:
        lines.append(Line(0, CLOSING_TITLE, closing_first))
    return PagePlan(contents_pages, tuple(lines), tuple(first_pages), tuple(blanks), closing_first)


def outline(entries: Sequence[Entry]) -> list[tuple[int, str, int]]:
    """The contents as (level, title, index of the entry it starts at): a week, its
    subjects, their lessons; the PDF bookmarks follow the same tree."""
    heads: list[tuple[int, str, int]] = []
    for index, entry in enumerate(entries):
        previous = entries[index - 1] if index else None
        new_week = previous is None or previous.week != entry.week
        if new_week:
            heads.append((0, week_title(entry.week), index))
        if entry.subject and (new_week or previous is None or previous.subject != entry.subject):
            heads.append((1, entry.subject, index))
        heads.append((2, entry.lesson, index))
    return heads


def contents_page_lines(plan: PagePlan, lines_per_page: int) -> list[tuple[Line, ...]]:
    """The contents lines on each contents page."""
    return [
        plan.lines[i * lines_per_page : (i + 1) * lines_per_page]
        for i in range(plan.contents_pages)
    ]
