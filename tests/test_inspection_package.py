"""Inspection emails as built bytes: parsed back by Python's email parser and by munpack,
split at the exact size limit, refused when a file is too large or changed, and no links."""

from __future__ import annotations

import email
import hashlib
import shutil
import subprocess
import tempfile
import unicodedata
import zipfile
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inspection_factory import blob, lesson

from agent.i18n import language
from plugins.inspection.model import (
    Address,
    BuiltMessage,
    Envelope,
    FileChanged,
    Packing,
    SelectedBy,
    SelectedFile,
    Selection,
)
from plugins.inspection.package import (
    FORMAT,
    MessageUnreadable,
    attachment_name,
    attachment_names,
    blocked_reason,
    build_messages,
    human_size,
    is_blocked,
    package_warnings,
    plan_parts,
    read_message,
    too_large_reason,
)

KEY = "5e" * 32
NOW = datetime(2026, 11, 20, 8, 30, tzinfo=timezone(timedelta(hours=7)))
TEACHER = Address("Nguyễn Thị Lan", "lan.nt@truong.test")
SCHOOL = Address("Trường Tiểu học Bình Chánh", "c1binhchanh@truong.test")
MANAGER = Address("Lê Văn Cường", "cuong.lv@truong.test")
ENVELOPE = Envelope(TEACHER, (SCHOOL, MANAGER), "Trường Tiểu học Bình Chánh", ("Kế hoạch bài dạy",))
LINKS = ("http", "www.", "drive.google")


def selected(path: str, file: Path, record_type: str = "KHBD") -> SelectedFile:
    data = file.read_bytes()
    return SelectedFile(
        path, file, len(data), hashlib.sha256(data).hexdigest(), record_type, SelectedBy.FOLDER
    )


def records(root: Path, sizes: Sequence[int]) -> tuple[SelectedFile, ...]:
    """Files of the given sizes under week folders, with Vietnamese names."""
    files = []
    for number, size in enumerate(sizes, 1):
        path = f"Tuần {10 + number % 4}/Toán/Bài {number} – Phép cộng có nhớ.pdf"
        files.append(selected(path, blob(root / path, size, seed=number)))
    return tuple(files)


def selection_of(files: Sequence[SelectedFile]) -> Selection:
    return Selection("Tuần 10–13", (10, 13), None, ("KHBD",), tuple(files))


def build(files: Sequence[SelectedFile], limit: int) -> list[BuiltMessage]:
    return list(
        build_messages(selection_of(files), ENVELOPE, max_message_bytes=limit, now=NOW, key=KEY)
    )


def plan_sizes(files: Sequence[SelectedFile], limit: int) -> list[int]:
    plan = plan_parts(selection_of(files), ENVELOPE, max_message_bytes=limit, key=KEY)
    return [part.size for part in plan.parts]


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_no_links(data: bytes) -> None:
    """No link in the headers, the body or the manifest (attachments are random bytes, whose
    base64 may spell "http" by chance)."""
    message = parsed(data)
    texts = [str(value).lower() for value in message.values()]
    for part in message.walk():
        if part.get_content_type() in ("text/plain", "application/json"):
            content = part.get_content()  # str for text, bytes for JSON
            texts.append((content if isinstance(content, str) else content.decode()).lower())
    assert len(texts) >= 10  # the headers, the body and the manifest
    for text in texts:
        assert not any(link in text for link in LINKS)


# --- round trip -----------------------------------------------------------------------------


def test_round_trip_through_pythons_parser(tmp_path: Path) -> None:
    docx_path = "Tuần 10/Toán/Bài 56 – Phép cộng có nhớ trong phạm vi 100.docx"
    nfd_path = unicodedata.normalize("NFD", "Tuần 11/Tiếng Việt/Tập đọc – Người mẹ hiền.pdf")
    files = (
        selected(docx_path, lesson(tmp_path / docx_path)),
        selected(nfd_path, blob(tmp_path / nfd_path, 90_000)),
        *records(tmp_path, [60_000, 45_000]),
    )
    limit = 200_000
    plan = plan_sizes(files, limit)
    built = build(files, limit)
    assert len(built) >= 2
    assert [m.size for m in built] == plan and max(plan) <= limit
    assert len({m.date for m in built}) == 1 and built[0].date == "Fri, 20 Nov 2026 08:30:00 +0700"
    assert len({m.message_id for m in built}) == len(built)
    assert [f for m in built for f in m.files] == list(files)
    names = dict(zip(files, attachment_names(files), strict=True))
    assert names[files[1]] == unicodedata.normalize(
        "NFC", "Tuần 11 - Tiếng Việt - Tập đọc – Người mẹ hiền.pdf"
    )

    for message in built:
        back = read_message(message.data)
        assert (back.message_id, back.date, back.subject) == (
            message.message_id, message.date, message.subject
        )  # fmt: skip
        assert back.sender == TEACHER.email and back.recipients == (SCHOOL.email, MANAGER.email)
        assert (back.package, back.part, back.parts) == (KEY, message.part, message.parts)
        assert back.attachments == tuple((names[f], f.file.read_bytes()) for f in message.files)
        assert back.manifest is not None
        assert {k: back.manifest[k] for k in ("format", "package", "part", "parts")} == {
            "format": FORMAT, "package": KEY, "part": message.part, "parts": message.parts
        }  # fmt: skip
        assert back.manifest["message_id"] == message.message_id
        assert back.manifest["date"] == message.date
        assert back.manifest["weeks"] == [10, 13] and back.manifest["month"] is None
        assert back.manifest["files"] == [
            {
                "name": names[f], "path": f.path, "size": f.size, "sha256": f.sha256,
                "record_type": "KHBD", "selected_by": "folder",
            }
            for f in message.files
        ]  # fmt: skip

        headers = parsed(message.data)
        subject = str(headers["Subject"])
        assert "Nguyễn Thị Lan – Kế hoạch bài dạy – Tuần 10–13" in subject
        assert subject.endswith(f"{message.part}/{message.parts}")
        assert [(a.display_name, a.addr_spec) for a in headers["From"].addresses] == [
            (TEACHER.name, TEACHER.email)
        ]
        assert [(a.display_name, a.addr_spec) for a in headers["To"].addresses] == [
            (SCHOOL.name, SCHOOL.email), (MANAGER.name, MANAGER.email)
        ]  # fmt: skip
        body = headers.get_body(("plain",))
        assert body is not None
        text = body.get_content()
        for file in message.files:
            assert names[file] in text and file.sha256 in text
        assert "manifest.json" in text and f"{message.part}/{message.parts}" in text
        assert max(len(line) for line in message.data.split(b"\r\n")) <= 998  # RFC 5322
        assert_no_links(message.data)


@pytest.mark.skipif(
    shutil.which("munpack") is None, reason="munpack is not installed (Debian package mpack)"
)
def test_munpack_extracts_the_attachments(tmp_path: Path) -> None:
    """munpack (Debian mpack) predates RFC 2231 and RFC 2047: it reads only ``filename=``
    and ``name=`` as they are, writing an X for each space or odd character. What it must get
    right is every attachment's bytes (no name may make it write elsewhere: the "Q" words of
    ``name=`` hold no "/"), and plain names such as the manifest's. Vietnamese names are
    checked with Python's parser and Perl's Encode (test_inspection_send.py)."""
    files = records(tmp_path, [30_000, 20_000, 7])
    [message] = build(files, 1_000_000)
    eml = tmp_path / "message.eml"
    eml.write_bytes(message.data)
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(
        ["munpack", "-f", "-q", "-C", str(out), str(eml)],
        check=True,
        timeout=30,
        capture_output=True,
    )
    assert all(p.is_file() for p in out.iterdir())
    unpacked = {p.name: p.read_bytes() for p in out.iterdir() if p.suffix != ".desc"}
    manifest = _manifest_bytes(message)
    assert sorted(unpacked.values()) == sorted([*(f.file.read_bytes() for f in files), manifest])
    assert unpacked["manifest.json"] == manifest


def _manifest_bytes(message: BuiltMessage) -> bytes:
    [manifest] = [
        part.get_content()
        for part in parsed(message.data).iter_attachments()
        if part.get_filename() == "manifest.json"
    ]
    return manifest


# --- sizes ----------------------------------------------------------------------------------


def test_a_message_exactly_at_the_limit_is_one_message(tmp_path: Path) -> None:
    # Sizes that are multiples of 3: one more byte adds a base64 group to the message.
    files = records(tmp_path, [40_002, 50_001])
    [exact] = plan_sizes(files, 10_000_000)
    [message] = build(files, exact)
    assert message.size == exact and message.parts == 1
    assert len(plan_sizes(files, exact - 1)) == 2

    grown = blob(tmp_path / "grown.pdf", files[1].size + 1, seed=7)
    bigger = (files[0], selected(files[1].path, grown))
    built = build(bigger, exact)
    assert [m.parts for m in built] == [2, 2]
    assert [m.size for m in built] == plan_sizes(bigger, exact)
    assert all(m.size <= exact for m in built)


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(
        st.integers(min_value=0, max_value=60_000) | st.sampled_from([140_000, 250_000]),
        min_size=1,
        max_size=6,
    ),
    limit=st.sampled_from([100_000, 150_000, 200_000]),
)
def test_planned_sizes_are_the_built_sizes(tmp_path: Path, sizes: list[int], limit: int) -> None:
    """Exact sizes, also when files too large for any message are named instead."""
    with tempfile.TemporaryDirectory(dir=tmp_path) as folder:
        files = records(Path(folder), sizes)
        packing = plan_parts(selection_of(files), ENVELOPE, max_message_bytes=limit, key=KEY)
        built = build(files, limit)
        assert [m.size for m in built] == [p.size for p in packing.parts]
        assert all(m.size <= limit for m in built)
        assert [f for m in built for f in m.files] == [
            f for f in files if f not in packing.not_attached
        ]
        assert all(f.size > limit * 3 // 4 for f in packing.not_attached)  # base64 is 4/3
        assert [(m.part, m.parts) for m in built] == [
            (i, len(built)) for i in range(1, len(built) + 1)
        ]


def test_numbering_past_nine_parts_keeps_sizes_exact(tmp_path: Path) -> None:
    files = records(tmp_path, [20_001] * 12)
    built = build(files, 40_000)
    assert [(m.part, m.parts) for m in built] == [(i, 12) for i in range(1, 13)]
    assert [m.size for m in built] == plan_sizes(files, 40_000)
    assert read_message(built[-1].data).subject.endswith("12/12")


def test_plan_reads_no_file_and_scales(tmp_path: Path) -> None:
    """300 files, 210 MB: planned from sizes alone (the files do not exist)."""
    files = tuple(
        SelectedFile(
            f"Tuần {10 + i % 4}/Toán/Bài {i}.docx", tmp_path / "absent", 700_000 + i, "0" * 64,
            "KHBD", SelectedBy.FOLDER,
        )
        for i in range(300)
    )  # fmt: skip
    plan = plan_parts(selection_of(files), ENVELOPE, max_message_bytes=25_000_000).parts
    assert [f for part in plan for f in part.files] == list(files)
    assert all(part.size <= 25_000_000 for part in plan)
    assert len(plan) == 12  # 25 files of 0.7 MB (×1.37 in base64) per message


def test_three_hundred_files_build(tmp_path: Path) -> None:
    files = records(tmp_path, [50_000] * 300)
    built = build(files, 5_000_000)
    assert [m.size for m in built] == plan_sizes(files, 5_000_000)
    assert sum(len(m.files) for m in built) == 300


def test_empty_selection_has_no_message() -> None:
    assert plan_parts(selection_of(()), ENVELOPE, max_message_bytes=1_000_000) == Packing(())
    assert build((), 1_000_000) == []


# --- refusals -------------------------------------------------------------------------------


def test_a_file_too_large_alone_is_named_in_every_message_and_the_rest_is_sent(
    tmp_path: Path,
) -> None:
    files = records(tmp_path, [60_000, 300_000, 70_000, 80_000])
    big = files[1]
    packing = plan_parts(selection_of(files), ENVELOPE, max_message_bytes=200_000, key=KEY)
    assert packing.not_attached == (big,)
    built = build(files, 200_000)
    assert len(built) == 2 and [m.size for m in built] == [p.size for p in packing.parts]
    assert all(m.size <= 200_000 for m in built)
    assert [f for m in built for f in m.files] == [files[0], files[2], files[3]]
    big_name = attachment_name(big.path)
    for message in built:
        back = read_message(message.data)
        assert big_name not in dict(back.attachments)
        assert back.manifest is not None
        assert back.manifest["not_attached"] == [
            {
                "name": big_name, "path": big.path, "size": big.size, "sha256": big.sha256,
                "record_type": "KHBD", "selected_by": "folder", "reason": "too_large",
            }
        ]  # fmt: skip
        body = parsed(message.data).get_body(("plain",))
        assert body is not None
        text = body.get_content()
        assert "Không đính kèm (1)" in text and "USB" in text
        assert f"1. {big_name} — 300,0 KB — SHA-256: {big.sha256}" in text
        assert_no_links(message.data)

    with language("en"):
        reason = too_large_reason(big, 200_000)
    assert big.path in reason and "0.3 MB" in reason and "0.2 MB" in reason
    assert "never replaces an attachment by a download link" in reason
    assert "max_message_bytes" in reason and "PDF" in reason and "USB stick" in reason


def test_when_no_file_fits_there_is_no_message(tmp_path: Path) -> None:
    files = records(tmp_path, [300_000, 400_000])
    packing = plan_parts(selection_of(files), ENVELOPE, max_message_bytes=200_000, key=KEY)
    assert packing == Packing((), files)
    assert build(files, 200_000) == []


@pytest.mark.parametrize("change", ["same size", "longer", "deleted"])
def test_a_file_changed_since_selection_is_refused(tmp_path: Path, change: str) -> None:
    files = records(tmp_path, [1_000, 2_000])
    target = files[1].file
    if change == "deleted":
        target.unlink()
    else:
        data = target.read_bytes()
        target.write_bytes(bytes([data[0] ^ 1]) + data[1:] + (b"x" if change == "longer" else b""))
    with pytest.raises(FileChanged) as raised:
        build(files, 1_000_000)
    assert files[1].path in str(raised.value)


# --- names, types, reading back -------------------------------------------------------------


def test_attachment_names_are_flat_nfc_and_unique() -> None:
    nfd = unicodedata.normalize("NFD", "Tuần 10/Toán/Bài 56.docx")
    assert attachment_name(nfd) == "Tuần 10 - Toán - Bài 56.docx"
    assert unicodedata.is_normalized("NFC", attachment_name(nfd))
    paths = ["Tuần 10 - Toán/Bài 56.docx", "Tuần 10/Toán - Bài 56.docx", "TUẦN 10/toán/bài 56.DOCX",
             "manifest.json"]  # fmt: skip
    files = [SelectedFile(p, Path(p), 1, "0" * 64, "KHBD", SelectedBy.FOLDER) for p in paths]
    assert attachment_names(files) == (
        "Tuần 10 - Toán - Bài 56.docx",
        "Tuần 10 - Toán - Bài 56 (2).docx",
        "TUẦN 10 - toán - bài 56 (3).DOCX",
        "manifest (2).json",
    )


def test_human_sizes_follow_the_language() -> None:
    assert human_size(532) == "532 B"
    with language("en"):
        assert human_size(1_234_567) == "1.2 MB"
    with language("vi"):
        assert human_size(1_234_567) == "1,2 MB"
        assert human_size(999_960) == "1,0 MB"


def _zip(path: Path, members: dict[str, bytes], *, encrypted: bool = False) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.flag_bits |= 0x1 if encrypted else 0  # only the flag: the names stay readable
            archive.writestr(info, data)
    return path


def test_blocked_types_and_archives_holding_them(tmp_path: Path) -> None:
    inner = _zip(tmp_path / "inner.zip", {"tool/run.vbs": b"x"}).read_bytes()
    cases = {
        _zip(tmp_path / "docs.zip", {"Bài 1.docx": b"x", "ảnh.jpg": b"y"}): False,
        _zip(tmp_path / "setup.zip", {"a/setup.EXE": b"x"}): True,
        _zip(tmp_path / "nested.zip", {"inner.zip": inner}): True,
        _zip(tmp_path / "locked.zip", {"more.zip": b"x"}, encrypted=True): True,
        blob(tmp_path / "damaged.zip", 100): True,
        blob(tmp_path / "tool.exe", 10): True,
        blob(tmp_path / "script.JS", 10): True,
        lesson(tmp_path / "Bài 56.docx"): False,  # a zip too, but a document
    }
    assert {path.name: is_blocked(path) for path in cases} == {
        path.name: blocked for path, blocked in cases.items()
    }
    reason = blocked_reason(tmp_path / "nested.zip")
    assert reason is not None and "inner.zip/tool/run.vbs" in reason


def test_warnings_for_macros_and_archives_hoso_cannot_open(tmp_path: Path) -> None:
    paths = ["Tuần 10/Bài 1.docm", "Tuần 10/Điểm.XLSM", "Tuần 10/ảnh.rar", "Tuần 10/Bài 2.docx"]
    files = [SelectedFile(p, tmp_path / p, 1, "0" * 64, "KHBD", SelectedBy.FOLDER) for p in paths]
    warnings = package_warnings(selection_of(files))
    assert len(warnings) == 3
    assert paths[0] in warnings[0] and ".docx" in warnings[0]
    assert paths[1] in warnings[1] and ".xlsx" in warnings[1]
    assert paths[2] in warnings[2] and ".rar" in warnings[2]


def test_reading_back_what_is_not_a_hoso_message() -> None:
    with pytest.raises(MessageUnreadable):
        read_message(b"\x00\x01 not an email at all")
    plain = EmailMessage()
    plain["From"], plain["To"], plain["Subject"] = "a@truong.test", "b@truong.test", "Bài"
    plain["Date"], plain["Message-ID"] = "Fri, 20 Nov 2026 08:30:00 +0700", "<1@truong.test>"
    plain.set_content("xin chào")
    plain.add_attachment(b"{}", "application", "json", filename="manifest.json")
    back = read_message(bytes(plain))
    assert back.manifest is None and back.part is None and back.package is None
    assert back.attachments == (("manifest.json", b"{}"),)
