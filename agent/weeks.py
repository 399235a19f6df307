"""School weeks ("Tuần 1" … "Tuần 35"): which week a path belongs to, and week dates.

A school year has 35 teaching weeks and starts in the week of 5 September (the opening
day of Vietnamese schools). Teachers name week folders every way a keyboard allows
("Tuần 5", "Tuan 05", "Tuan_5", "TUẦN 12", "tuần12", "T5"); names are compared folded
(:func:`agent.records.fold`), so case, accents and separators do not matter.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import PurePosixPath

from .model import RelPath
from .textfold import fold

FIRST_WEEK = 1
LAST_WEEK = 35
_OPENING_MONTH, _OPENING_DAY = 9, 5  # 5 September, "ngày khai giảng"

# "tuan 5", "tuan 05", "tuan12", "tuan thu 5" anywhere in a folded name.
_TUAN = re.compile(r"\btuan ?(?:thu )?0*(\d{1,2})\b")
# "T5" means week 5 only when it is the whole name: inside a name it is too often
# something else ("T5" for Thursday, "Toán T5" for a grade).
_SHORT = re.compile(r"t ?0*(\d{1,2})")


def _week_in(name: str) -> int | None:
    folded = fold(name)
    match = _SHORT.fullmatch(folded) or _TUAN.search(folded)
    if match is None:
        return None
    week = int(match.group(1))
    return week if FIRST_WEEK <= week <= LAST_WEEK else None


def week_of_path(path: RelPath) -> int | None:
    """The school week a file belongs to, from its folders (nearest first), else its name.

    The folder wins over the file name because week folders are how the records are
    organised and selected for inspection; "T5" only counts as a whole folder name (a
    file "T5.docx" has an extension, so it is never taken for week 5)."""
    parts = PurePosixPath(path).parts
    for name in (*reversed(parts[:-1]), *parts[-1:]):
        week = _week_in(name)
        if week is not None:
            return week
    return None


def default_year_start(today: date) -> date:
    """The Monday of the week holding 5 September of the school year in progress.

    January to August belong to the school year that started the previous September."""
    year = today.year if today.month >= _OPENING_MONTH else today.year - 1
    opening = date(year, _OPENING_MONTH, _OPENING_DAY)
    return opening - timedelta(days=opening.weekday())


def school_week(today: date, year_start: date) -> int:
    """The 1-based school week of ``today``, clamped to 1..35 (before the start: 1; in the
    summer: 35)."""
    week = (today - year_start).days // 7 + 1
    return min(max(week, FIRST_WEEK), LAST_WEEK)


def week_dates(n: int, year_start: date) -> tuple[date, date]:
    """Monday and Sunday of school week ``n`` (1..35)."""
    if not FIRST_WEEK <= n <= LAST_WEEK:
        raise ValueError(f"school week {n} is outside {FIRST_WEEK}..{LAST_WEEK}")
    monday = year_start + timedelta(weeks=n - 1)
    return monday, monday + timedelta(days=6)
