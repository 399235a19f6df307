"""agent.conflictname: the name a conflict copy gets, read back as (original, kind)."""

from __future__ import annotations

import unicodedata
from datetime import datetime

import pytest

from agent.conflictname import (
    CopyKind,
    conflict_copy_name,
    copy_kind,
    is_conflict_copy,
    original_name,
)
from agent.model import nfc
from agent.trash import free_name

NOW = datetime(2026, 11, 29, 9, 30)
NFD = unicodedata.normalize("NFD", "Tuần 5/Kế hoạch bài dạy môn Tiếng Việt.docx")

NAMES = [
    "Tuần 12/Toán - Bài 12.docx",
    NFD,  # as macOS spells it
    "Tuần 3/ĐỀ KIỂM TRA GIỮA KÌ I.PDF",
    "Bài (1).docx",  # a parenthesis of the teacher's own
    "Sổ chủ nhiệm_conflict.xlsx",  # a word that looks like a mark, without its date
    ".hidden",
    ".config.toml",
    "README",
    "archive.tar.gz",
    "Bài 1. Ôn tập chương",  # a "suffix" with a space is part of the name
    "a  b.txt",
    "x.",
    "Tuần 1/Tiết 2/Bài đọc: “Mẹ ốm”.docx",
]


@pytest.mark.parametrize("path", NAMES)
@pytest.mark.parametrize("host", ["GV-LAN", unicodedata.normalize("NFD", "Máy Cô Hà")])
@pytest.mark.parametrize("label", ["bản xung đột", "conflicted copy"])
@pytest.mark.parametrize("taken", [False, True], ids=["free", "taken"])
def test_a_conflict_copy_name_reads_back_as_its_original(
    path: str, host: str, label: str, taken: bool
) -> None:
    first = conflict_copy_name(path, host=host, now=NOW, taken=(), label=label)
    copy = conflict_copy_name(path, host=host, now=NOW, taken={first} if taken else (), label=label)
    assert copy != path and unicodedata.is_normalized("NFC", copy.rpartition("/")[2])
    assert copy_kind(copy) is CopyKind.CONFLICT
    assert is_conflict_copy(copy)
    original = original_name(copy)
    assert original is not None and nfc(original) == nfc(path)
    assert copy_kind(path) is None and original_name(path) is None


def test_a_shortened_name_reads_back_shortened_with_its_extension() -> None:
    path = "d/" + "Kế hoạch bài dạy môn Tiếng Việt " * 10 + ".docx"
    copy = conflict_copy_name(path, host="GV-LAN", now=NOW, taken=())
    original = original_name(copy)
    assert copy_kind(copy) is CopyKind.CONFLICT
    assert original is not None and original.endswith(".docx")
    assert path.startswith(original.removesuffix(".docx"))
    assert len(copy.rpartition("/")[2].encode()) <= 255


@pytest.mark.parametrize(
    ("copy", "original", "kind"),
    [
        ("Bài 1 (conflicted copy 2024-10-01 101500).docx", "Bài 1.docx", CopyKind.CONFLICT),
        ("Tuần 2/Bài 1_conflict-20241001-101500.docx", "Tuần 2/Bài 1.docx", CopyKind.CONFLICT),
        ("Tuần 9/Bài 9 (khôi phục 1).docx", "Tuần 9/Bài 9.docx", CopyKind.RESTORED),
        (unicodedata.normalize("NFD", "Bài 9 (KHÔI PHỤC 12).docx"), None, CopyKind.RESTORED),
        # A copy of a copy reads back as the first original.
        (
            "Bài 9 (bản xung đột, máy A, 2026-11-29 09h30) (restored 1).docx",
            "Bài 9.docx",
            CopyKind.CONFLICT,
        ),
    ],
)
def test_other_programs_copies_and_restored_copies_are_read_too(
    copy: str, original: str | None, kind: CopyKind
) -> None:
    assert copy_kind(copy) is kind
    found = original_name(copy)
    assert found is not None
    if original is not None:
        assert found == original


def test_the_trashs_restored_names_read_back() -> None:
    path = "Tuần 1/Bài 1.docx"
    restored = free_name(path, lambda p: p == path)
    assert copy_kind(restored) is CopyKind.RESTORED
    assert original_name(restored) == path
