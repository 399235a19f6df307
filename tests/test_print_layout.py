"""The binder's page plan (plugins/inspection/binder/layout.py), pure: literals in, pages out."""

from __future__ import annotations

from plugins.inspection.binder.layout import CLOSING_TITLE, Entry, Line, contents_page_lines, plan


def test_weeks_start_on_odd_pages_and_the_contents_point_at_first_pages() -> None:
    entries = [
        Entry(1, "Toán", "Bài 2", 3),
        Entry(1, "Toán", "Bài 10", 2),
        Entry(2, "Tiếng Việt", "Bài 3", 1),
        Entry(3, "Toán", "Bài 14", 2),
    ]
    pages = plan(entries, lines_per_page=36, closing=True)
    # cover 1, its back 2 (blank), contents 3, blank 4, week 1 from 5
    assert pages.first_pages == (5, 8, 11, 13)
    assert pages.blanks == (2, 4, 10, 12)
    assert pages.closing_first == 15
    assert pages.lines == (
        Line(0, "Tuần 1", 5),
        Line(1, "Toán", 5),
        Line(2, "Bài 2", 5),
        Line(2, "Bài 10", 8),
        Line(0, "Tuần 2", 11),
        Line(1, "Tiếng Việt", 11),
        Line(2, "Bài 3", 11),
        Line(0, "Tuần 3", 13),
        Line(1, "Toán", 13),
        Line(2, "Bài 14", 13),
        Line(0, CLOSING_TITLE, 15),
    )
    assert not pages.numbered(1) and not pages.numbered(4) and pages.numbered(3)


def test_long_contents_take_more_pages_and_push_the_records() -> None:
    entries = [Entry(1, "Toán", f"Bài {n}", 1) for n in range(1, 40)]  # 41 lines
    pages = plan(entries, lines_per_page=36, closing=False)
    assert pages.contents_pages == 2
    assert pages.first_pages[0] == 5  # contents 3–4, the week on 5
    assert [len(p) for p in contents_page_lines(pages, 36)] == [36, 5]
    assert pages.closing_first is None and pages.blanks == (2,)


def test_records_without_week_or_subject_come_last_under_their_own_heading() -> None:
    pages = plan([Entry(1, "", "Bài 1", 1), Entry(None, "", "Ghi chú", 1)], lines_per_page=36,
                 closing=False)  # fmt: skip
    assert [(line.level, line.title) for line in pages.lines] == [
        (0, "Tuần 1"), (2, "Bài 1"), (0, "Không rõ tuần"), (2, "Ghi chú"),
    ]  # fmt: skip
    assert pages.first_pages == (5, 7)
