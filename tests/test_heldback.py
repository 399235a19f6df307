"""The held-back set on a real journal: told when it changes, grouped and counted when shown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from agent import heldback, i18n
from agent.heldback import Held
from agent.journal import Journal
from agent.status import MAX_LISTED, held_lines

TWIN = Held("Tuần 14", "normalization_twin", where=heldback.SHARE)
OPEN = Held("Tuần 3/Kế hoạch bài dạy.docx", "open_in_editor")
SAVING = Held("Tuần 3/Nháp.docx", "unsettled")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    i18n.setup("en")
    with Journal.open(tmp_path / "journal.sqlite3") as j:
        yield j


def test_a_change_is_told_once_when_the_set_changes(journal: Journal) -> None:
    first = heldback.remember(journal, [TWIN, OPEN, TWIN])
    assert first.appeared == (TWIN, OPEN) and first.cleared == ()
    assert not heldback.remember(journal, [OPEN, TWIN])  # the same set: nothing to tell
    assert heldback.remembered(journal) == [TWIN, OPEN]

    # The same twin, now on both sides: the same item, kept with what is known now.
    both = Held(TWIN.path, TWIN.reason, where=heldback.BOTH)
    assert not heldback.remember(journal, [OPEN, both])
    assert heldback.remembered(journal) == [both, OPEN]

    closed = heldback.remember(journal, [TWIN])
    assert closed.appeared == () and closed.cleared == (OPEN,)
    assert heldback.remembered(journal) == [TWIN]


def test_a_damaged_value_reads_as_nothing_held(journal: Journal) -> None:
    journal.meta_set(heldback.HELD_META, '{"not": "a list"}')
    assert heldback.remembered(journal) == []
    journal.meta_set(heldback.HELD_META, "[not json")
    assert heldback.remembered(journal) == []
    assert heldback.remember(journal, [TWIN]).appeared == (TWIN,)


def test_the_log_line_names_what_waits_for_a_person_and_counts_the_rest() -> None:
    i18n.setup("en")
    many = [Held(f"Tuần 3/Bài {n}.docx", "open_in_editor") for n in range(8)]
    line = heldback.log_line([TWIN, SAVING, *many])
    assert line.startswith("Held back, not synced until someone acts: Tuần 14 (two files")
    assert "Bài 4.docx and 3 more (open in Word" in line and "Bài 5.docx" not in line
    assert "Nháp" not in line  # still being saved: it clears by itself
    assert heldback.log_line([SAVING]).startswith("Nothing is held back any more")


def test_status_groups_by_reason_with_the_fix_and_counts_a_folder_once() -> None:
    i18n.setup("en")
    opened = [
        {**Held(f"Tuần 3/Bài {n:02}.docx", "open_in_editor").to_json(), "files": 0}
        for n in range(MAX_LISTED + 2)
    ]
    lines = held_lines([{**TWIN.to_json(), "files": 106}, *opened])
    assert lines[0].startswith("Not synced — two files or folders have the same name")
    assert lines[0].endswith("(1):")
    assert lines[1] == "  Tuần 14 (106 files): on the share"
    assert lines[2].startswith("  → Keep one of the two")
    assert lines[3].startswith("Not synced — open in Word or LibreOffice") and "(22):" in lines[3]
    assert lines[4] == "  Tuần 3/Bài 00.docx"
    assert "  … and 2 more" in lines and "  Tuần 3/Bài 21.docx" not in lines
    assert lines[-1].startswith("  → Close the file in Word or LibreOffice")
