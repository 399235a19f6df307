"""`hoso print`: the binder as a teacher makes it, with the real LibreOffice (Debian's
soffice), read back with poppler-utils (pdfinfo, pdftotext, pdftoppm) and pypdf.

One binder of a small generated corpus (Vietnamese lesson plans, one with a table, one typed
in TCVN3, one that fails a check, one that hangs LibreOffice and one that crashes it) is made
once for the module; each test asserts on it. The faults are real: `[print] converter` is a
small wrapper of the test's own around the real soffice that hangs or dies when it meets a
document carrying a marker, and logs every document it hands to LibreOffice (the cache test
counts those).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from agents import hoso_command, hoso_env, to_toml
from docs_factory import Para, Run, Table, lesson_plan, make_docx, make_pdf, make_xlsx, tcvn3
from inspection_factory import raw_config
from pypdf import PdfReader

from agent import config as configmod
from agent.journal import Journal

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="needs Debian libreoffice-writer-nogui and poppler-utils (.ci/run installs them)",
)

SOFFICE = shutil.which("soffice") or "soffice"
WRAPPER = """#!{python}
# A LibreOffice that hangs or crashes on a marked document (the binder's fault tests).
import os, subprocess, sys, time, zipfile
REAL = {real!r}
args = sys.argv[1:]
files = [a for a in args if a.endswith(".docx")]
options = args[: len(args) - len(files)]
def text(name):
    try:
        return zipfile.ZipFile(name).read("word/document.xml")
    except Exception:
        return b""
def convert(names):
    if names:
        with open({log!r}, "a") as log:
            log.writelines(n + "\\n" for n in names)
        subprocess.run([REAL, *options, *names], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
for i, name in enumerate(files):
    marked = text(name)
    if b"HOSO-HANG" in marked or b"HOSO-CRASH" in marked:
        convert(files[:i])
        if b"HOSO-HANG" in marked:
            time.sleep(3600)
        os.abort()
convert(files)
"""
FIRST_LINES = {
    "Tuần 1/Toán/Bài 2.docx": "Tuần 1 – Toán – Bài 2: Phép cộng trong phạm vi 10",
    "Tuần 1/Toán/Bài 10.docx": "Tuần 1 – Toán – Bài 10: Luyện tập chung",
    "Tuần 1/Tiếng Việt/Bài 1.docx": "Tuần 1 – Tiếng Việt – Bài 1: Đôi bàn tay bé",
    "Tuần 2/Tiếng Việt/Bài 3.docx": "Tuần 2 – Tiếng Việt – Bài 3: Ngày hội rừng xanh",
    "Tuần 2/Đạo đức/Bài 4.docx": "Tuần 2 – Đạo đức – Bài 4: Em yêu Tổ quốc",
    "Tuần 2/Toán/Bài 11.pdf": "Tuần 2 – Toán – Bài 11: Phép trừ có nhớ",
    "Tuần 3/Toán/Bài 12.docx": "Tuần 3 – Toán – Bài 12: Hình vuông",
    "Tuần 3/Toán/Bài 13.docx": "Tuần 3 – Toán – Bài 13: Hình tròn",
    "Tuần 3/Toán/Bài 14.docx": "Tuần 3 – Toán – Bài 14: Khối lập phương",
}
FAILING = "Tuần 2/Đạo đức/Bài 4.docx"  # two lessons in one file: a check's ERROR
HANGS = "Tuần 3/Toán/Bài 12.docx"
CRASHES = "Tuần 3/Toán/Bài 13.docx"
TIMEOUT = 8  # seconds per document ([print] timeout)
SCHOOL = "Trường Tiểu học Bình Chánh"
TEACHER = "Nguyễn Thị Lan"


def _write(root: Path, path: str, first: str) -> None:
    if path.endswith(".pdf"):  # a lesson plan kept as PDF: it goes in as it is
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        make_pdf(root / path, [first, "KẾ HOẠCH BÀI DẠY", "IV. Điều chỉnh sau bài dạy", "Tốt."])
        return
    items = lesson_plan(activity_rows=2)
    items[2] = f"Tên bài học: {first.split('– ', 2)[-1]}"
    body: list[object] = [first, *items]
    if path == "Tuần 1/Toán/Bài 10.docx":  # a table of its own, with Vietnamese in its cells
        body.insert(3, Table((("Nội dung", "Thời lượng"), ("Ôn tập bảng cộng", "10 phút"))))
    if path == "Tuần 1/Tiếng Việt/Bài 1.docx":  # typed in TCVN3 (.VnTime)
        body.insert(1, Para((tcvn3("Rèn kĩ năng đọc đúng, đọc trơn"),)))
    if path == FAILING:
        body += items
    if path == HANGS:
        body.append(Run("HOSO-HANG"))
    if path == CRASHES:
        body.append(Run("HOSO-CRASH"))
    file = root / path
    file.parent.mkdir(parents=True, exist_ok=True)
    make_docx(file, body)  # type: ignore[arg-type]


@dataclass
class Setup:
    home: Path
    root: Path
    config_path: Path
    log: Path
    out: Path  # where binders are written
    wrapper: Path
    records: dict[str, bytes]  # the records folder as made

    def hoso(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            hoso_command("--config", str(config or self.config_path), *args),
            capture_output=True,
            text=True,
            env=hoso_env({"XDG_CONFIG_HOME": str(self.home / "xdg")}),
            timeout=300,
            cwd=self.out,
        )

    def conversions(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


def _config(home: Path, root: Path, name: str, **print_table: object) -> Path:
    raw = raw_config(root, home / "state")
    raw["school"].pop("reviewers")
    raw["school"].pop("mailbox")
    raw["school"]["governing_body"] = "Phòng GD&ĐT huyện Bình Chánh"
    raw["print"] = {"timeout": TIMEOUT, **print_table}
    path = home / "config" / name
    configmod.write_private(path, to_toml(raw))
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    home = tmp_path_factory.mktemp("print")
    root = home / "HoSo"
    for path, first in FIRST_LINES.items():
        _write(root, path, first)
    log = home / "converted.log"
    wrapper = home / "soffice-faulty"
    wrapper.write_text(
        WRAPPER.format(python=shutil.which("python3"), real=SOFFICE, log=str(log)),
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    out = home / "out"
    out.mkdir()
    config = _config(home, root, "agent.toml", converter=str(wrapper))
    return Setup(home, root, config, log, out, wrapper, _tree(root))


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@dataclass
class Made:
    data: dict[str, object]
    pdf: Path
    pages: list[str]  # the text of each page, pdftotext -layout
    stderr: str
    returncode: int


@pytest.fixture(scope="module")
def binder(setup: Setup) -> Made:
    done = setup.hoso("print", "--weeks", "1-3", "--json", "--out", "binder.pdf")
    assert done.returncode == 1, done.stdout + done.stderr  # some records were left out
    data = json.loads(done.stdout)
    pdf = Path(str(data["pdf"]))
    count = _pdfinfo_pages(pdf)
    pages = [_page_text(pdf, n) for n in range(1, count + 1)]
    print(f"binder and renders in {pdf.parent}")
    return Made(data, pdf, pages, done.stderr, done.returncode)


def _pdfinfo_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    return int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))  # type: ignore[union-attr]


def _page_text(pdf: Path, page: int) -> str:
    done = subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    return unicodedata.normalize("NFC", done.stdout)


def _contents(made: Made) -> list[tuple[str, int]]:
    """(title, page) of each contents line, read back from the PDF's contents pages."""
    lines = []
    for text in made.pages:
        if "MỤC LỤC" not in text:
            continue
        for line in text.splitlines():
            match = re.match(r"\s*(\S.*?)\s*\.{3,}\s*(\d+)\s*$", line)
            if match:
                lines.append((match.group(1), int(match.group(2))))
    return lines


def test_the_binder_holds_each_convertible_record_once_in_natural_order(
    binder: Made, setup: Setup
) -> None:
    included = [i["path"] for i in binder.data["included"]]  # type: ignore[union-attr]
    assert included == [
        "Tuần 1/Tiếng Việt/Bài 1.docx",
        "Tuần 1/Toán/Bài 2.docx",
        "Tuần 1/Toán/Bài 10.docx",  # "Bài 2" before "Bài 10"
        "Tuần 2/Tiếng Việt/Bài 3.docx",
        "Tuần 2/Toán/Bài 11.pdf",
        "Tuần 3/Toán/Bài 14.docx",
    ]
    assert binder.data["pages"] == len(binder.pages) == _pdfinfo_pages(binder.pdf)
    assert binder.pdf.parent == setup.out  # never in the records folder
    # a teacher with no mail settings at all prints
    loaded = configmod.load(setup.config_path)
    assert not loaded.table("smtp") and not loaded.table("inspection")
    assert _tree(setup.root) == setup.records  # nothing written there (no PDF, no lock file)


def test_every_record_starts_on_the_page_the_contents_and_json_give(binder: Made) -> None:
    contents = dict(_contents(binder))
    for item in binder.data["included"]:  # type: ignore[union-attr]
        path, page = item["path"], item["first_page"]
        lesson = Path(path).stem
        assert contents[lesson] == page, (lesson, contents)
        assert FIRST_LINES[path] in binder.pages[page - 1], (path, page)
        assert FIRST_LINES[path] not in binder.pages[page - 2]
    # weeks and subjects point at their first lesson, in the order of the binder
    assert [title for title, _page in _contents(binder)] == [
        "Tuần 1", "Tiếng Việt", "Bài 1", "Toán", "Bài 2", "Bài 10",
        "Tuần 2", "Tiếng Việt", "Bài 3", "Toán", "Bài 11",
        "Tuần 3", "Toán", "Bài 14",
        "Những hồ sơ không có trong tập",
    ]  # fmt: skip
    assert contents["Tuần 1"] == contents["Bài 1"] and contents["Tuần 2"] == contents["Bài 3"]
    assert contents["Tuần 3"] == contents["Bài 14"]


def test_weeks_start_on_odd_pages_with_blank_pages_between(binder: Made) -> None:
    contents = dict(_contents(binder))
    for week in ("Tuần 1", "Tuần 2", "Tuần 3"):
        assert contents[week] % 2 == 1, (week, contents[week])
    blanks = [n for n, text in enumerate(binder.pages, start=1) if not text.strip()]
    assert 2 in blanks  # the back of the cover
    for page in blanks:
        assert page == 2 or (page + 1) in contents.values()


def test_numbered_pages_carry_trang_x_of_y(binder: Made) -> None:
    total = len(binder.pages)
    for number, text in enumerate(binder.pages, start=1):
        if number == 1 or not text.strip():
            assert "Trang" not in text
        else:
            assert f"Trang {number}/{total}" in text, number


def test_the_cover_names_school_title_teacher_and_year(binder: Made) -> None:
    cover = binder.pages[0]
    for words in (
        "PHÒNG GD&ĐT HUYỆN BÌNH CHÁNH",
        SCHOOL.upper(),
        "KẾ HOẠCH BÀI DẠY",
        TEACHER,
        "Tổ 1",
        "Tuần 1–3",
        "Năm học 2026 – 2027",
        "Toán",
    ):
        assert words in cover, words


def test_vietnamese_text_comes_out_intact_also_from_tcvn3(binder: Made) -> None:
    text = "\n".join(binder.pages)
    for line in FIRST_LINES.values():
        if "Bài 12" in line or "Bài 13" in line or "Bài 4:" in line:
            assert line not in text
        else:
            assert line in text
    assert "Rèn kĩ năng đọc đúng, đọc trơn" in text  # typed in .VnTime
    assert "Ôn tập bảng cộng" in text  # in a table
    assert "Hoạt động của giáo viên" in text


def test_bookmarks_follow_weeks_subjects_lessons(binder: Made) -> None:
    reader = PdfReader(binder.pdf)

    def walk(items: list[object], depth: int) -> Iterator[tuple[int, str, int]]:
        for item in items:
            if isinstance(item, list):
                yield from walk(item, depth + 1)
            else:
                yield depth, item.title, reader.get_destination_page_number(item) + 1  # type: ignore[attr-defined]

    marks = list(walk(reader.outline, 0))
    contents = dict(_contents(binder))
    assert (0, "Tuần 1", contents["Tuần 1"]) in marks
    assert (1, "Toán", contents["Bài 2"]) in marks
    assert (2, "Bài 10", contents["Bài 10"]) in marks
    assert (
        0,
        "Những hồ sơ không có trong tập",
        contents["Những hồ sơ không có trong tập"],
    ) in marks
    meta = reader.metadata
    assert meta is not None and meta.author == TEACHER
    assert "KẾ HOẠCH BÀI DẠY".lower() in (meta.title or "").lower() or "Kế hoạch" in (
        meta.title or ""
    )


def test_what_is_left_out_is_listed_with_reasons_not_fatal(setup: Setup, binder: Made) -> None:
    left = {x["path"]: x["reason"] for x in binder.data["left_out"]}  # type: ignore[union-attr]
    assert set(left) == {FAILING, HANGS, CRASHES}
    assert "timed out" in left[HANGS]
    assert "could not be converted" in left[CRASHES]
    assert "check" in left[FAILING]
    closing = "\n".join(binder.pages[-2:])
    assert "NHỮNG HỒ SƠ KHÔNG CÓ TRONG TẬP" in closing
    for path in left:
        assert path in closing
    assert "Traceback" not in binder.stderr
    assert not _soffice_left(setup)


def _soffice_left(setup: Setup) -> list[str]:
    """soffice processes started by this test's wrapper that are still alive (not another
    xdist worker's)."""
    # -ww: without a terminal ps cuts lines at 80 columns, and an xdist worker's tmp path is longer
    done = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if str(setup.home / "soffice-faulty") in line]


def test_pages_render_with_ink(binder: Made) -> None:
    prefix = binder.pdf.parent / "page"
    subprocess.run(
        ["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "5", str(binder.pdf), str(prefix)],
        check=True,
    )
    shots = sorted(binder.pdf.parent.glob("page-*.pgm"))
    assert len(shots) == 5
    for shot in shots:
        if not binder.pages[int(shot.stem.rpartition("-")[2]) - 1].strip():
            continue  # a blank page (the back of the cover, before a week)
        pixels = _pgm_pixels(shot)
        mean = sum(pixels) / len(pixels)
        variance = sum((p - mean) ** 2 for p in pixels) / len(pixels)
        assert variance > 50, shot
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "5", str(binder.pdf), str(prefix)],
        check=True,
    )


def _pgm_pixels(path: Path) -> bytes:
    data = path.read_bytes()
    fields = data.split(maxsplit=4)  # P5 width height maxval pixels
    return fields[4]


def test_a_second_binder_converts_nothing_it_has(setup: Setup, binder: Made) -> None:
    cache = setup.home / "state" / "print-cache"
    stale, recent = cache / f"{'0' * 64}-old.pdf", cache / f"{'1' * 64}-new.pdf"
    for entry, days in ((stale, 401), (recent, 399)):  # no binder used them for that long
        entry.write_bytes(b"%PDF-1.4 stale")
        when = time.time() - days * 86400
        os.utime(entry, (when, when))
    before = setup.conversions()
    done = setup.hoso("print", "--weeks", "1-2", "--json", "--out", "again.pdf")
    data = json.loads(done.stdout)
    assert data["converted"] == 0 and data["cached"] == 4  # and the PDF as it is
    assert len(data["included"]) == 5
    assert setup.conversions() == before  # LibreOffice was not even started
    assert (setup.out / "again.pdf").is_file()
    assert not stale.exists() and recent.exists()  # unused for over a school year: removed
    kept = [e for e in cache.glob("*.pdf") if e != recent]
    assert len(kept) >= 5 and all(time.time() - e.stat().st_mtime < 3600 for e in kept)


def test_include_failing_puts_it_in_with_a_mark(setup: Setup, binder: Made) -> None:
    done = setup.hoso("print", "--weeks", "2", "--include-failing", "--json", "--out", "w2.pdf")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    marked = {i["path"]: i for i in data["included"]}
    assert marked[FAILING]["marked"] and not marked["Tuần 2/Tiếng Việt/Bài 3.docx"]["marked"]
    page = _page_text(Path(data["pdf"]), marked[FAILING]["first_page"])
    assert "CHƯA ĐẠT KIỂM TRA" in page and FIRST_LINES[FAILING] in page
    assert data["left_out"] == []


@pytest.mark.parametrize(
    "args",
    [
        ["--weeks", "1-3", "--period", "2026-09"],
        ["--weeks", "40"],
        ["--year", "2026-2028"],
        ["--period", "2026-13"],
        [],
        ["--weeks", "1", "--type", "NOPE"],
        ["--weeks", "1", "--out", "binder.txt"],
        ["--weeks", "1", "--out", "binder.pdf"],  # exists (the module's binder)
        ["--weeks", "1", "--out", "../HoSo/in-records.pdf"],
        ["--weeks", "1", "--teacher-folder", "/tmp"],
    ],
)
def test_bad_options_exit_2_and_write_nothing(setup: Setup, binder: Made, args: list[str]) -> None:
    before = sorted(p.name for p in setup.out.iterdir())
    records = sorted(p for p in setup.root.rglob("*"))
    done = setup.hoso("print", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip()
    assert sorted(p.name for p in setup.out.iterdir()) == before
    assert sorted(p for p in setup.root.rglob("*")) == records


def test_missing_libreoffice_says_what_to_install(setup: Setup) -> None:
    config = _config(setup.home, setup.root, "nolo.toml", converter="/nonexistent/soffice")
    done = setup.hoso("print", "--weeks", "1", config=config)
    assert done.returncode == 2
    assert "apt install libreoffice-writer-nogui libreoffice-calc-nogui" in done.stderr
    assert "fonts-liberation2 fonts-dejavu" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_managers_copy_prints_one_teachers_folder(setup: Setup, binder: Made) -> None:
    share = setup.home / "share"
    shutil.copytree(setup.root / "Tuần 1", share / "lan.nt" / "Tuần 1")
    config = _config(setup.home, share, "manager.toml", converter=str(setup.wrapper))
    done = setup.hoso(
        "print", "--weeks", "1", "--teacher-folder", "lan.nt", "--json", config=config
    )
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [i["path"] for i in data["included"]] == [
        "Tuần 1/Tiếng Việt/Bài 1.docx",
        "Tuần 1/Toán/Bài 2.docx",
        "Tuần 1/Toán/Bài 10.docx",
    ]
    assert data["converted"] == 0  # the same files: from the cache
    assert Path(data["pdf"]).parent == setup.out
    assert Path(data["pdf"]).name == "KHBD Tuần 1.pdf"  # the default name, current folder
    outside = setup.hoso("print", "--weeks", "1", "--teacher-folder", "../HoSo", config=config)
    assert outside.returncode == 2 and "inside the records folder" in outside.stderr


def test_a_current_folder_deleted_under_the_terminal_is_one_message(setup: Setup) -> None:
    gone = setup.home / "usb"
    gone.mkdir()
    # The installed `hoso` (python -c would put the deleted folder on the import path).
    hoso = Path(sys.executable).with_name("hoso")
    command = shlex.join([str(hoso), "--config", str(setup.config_path), "print", "--weeks", "1"])
    done = subprocess.run(
        ["sh", "-c", f"cd {shlex.quote(str(gone))} && rmdir ../usb && exec {command}"],
        capture_output=True,
        text=True,
        env=hoso_env({"XDG_CONFIG_HOME": str(setup.home / "xdg")}),
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "current folder no longer exists" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_manager_with_only_a_copy_of_the_share_prints_with_folder(setup: Setup) -> None:
    """A principal with no records folder of their own: `--folder` names the copy of the
    school share, `--teacher-folder` one teacher's folder in it."""
    copy = setup.home / "truong-copy"
    shutil.copytree(setup.root / "Tuần 1", copy / "Nguyễn Thị Lan" / "Tuần 1")
    manager = setup.home / "manager"
    (manager / "out").mkdir(parents=True)
    env = hoso_env({"XDG_CONFIG_HOME": str(manager / "xdg"), "XDG_STATE_HOME": str(manager)})

    def hoso(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            hoso_command("--config", str(manager / "none.toml"), "print", "--weeks", "1", *args),
            capture_output=True, text=True, env=env, timeout=300, cwd=manager / "out",
        )  # fmt: skip

    done = hoso("--folder", str(copy), "--teacher-folder", "Nguyễn Thị Lan", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [i["path"] for i in data["included"]] == [
        "Tuần 1/Tiếng Việt/Bài 1.docx",
        "Tuần 1/Toán/Bài 2.docx",
        "Tuần 1/Toán/Bài 10.docx",
    ]
    assert Path(data["pdf"]).parent == manager / "out"
    assert "Nguyễn Thị Lan" in _page_text(Path(data["pdf"]), 1)
    assert not (manager / "none.toml").exists()  # no config was written for it
    inside = hoso("--folder", str(copy), "--out", str(copy / "x.pdf"))
    assert inside.returncode == 2 and "the folder it prints from" in inside.stderr
    missing = hoso("--folder", str(setup.home / "nowhere"))
    assert missing.returncode == 2 and "no such folder" in missing.stderr
    assert not list(copy.rglob("*.pdf"))


def test_a_remembered_crash_is_tried_again_a_day_later(setup: Setup) -> None:
    """A document that crashed LibreOffice is not handed to it again at once (each try
    costs a LibreOffice start), but a one-off crash does not keep it out for good."""
    home = setup.home / "crash-once"
    root = home / "HoSo"
    _write(root, "Tuần 3/Toán/Bài 1.docx", "Tuần 3 – Toán – Bài 1: Ôn tập")  # converts first
    _write(root, CRASHES, FIRST_LINES[CRASHES])  # carries the wrapper's crash marker
    # One converter (the cache is kept per converter) that crashes while `crashing` exists.
    crashing = home / "crashing"
    converter = home / "soffice-once"
    wrapper, real = shlex.quote(str(setup.wrapper)), shlex.quote(SOFFICE)
    converter.write_text(
        f'#!/bin/sh\n[ -e {shlex.quote(str(crashing))} ] && exec {wrapper} "$@"\n'
        f'exec {real} "$@"\n',
        encoding="utf-8",
    )
    converter.chmod(0o755)
    config = _config(home, root, "once.toml", converter=str(converter))

    def left_out(out: str) -> list[str]:
        done = setup.hoso("print", "--weeks", "3", "--json", "--out", out, config=config)
        assert done.returncode in (0, 1), done.stderr
        return [x["path"] for x in json.loads(done.stdout)["left_out"]]

    crashing.touch()
    assert left_out("1.pdf") == [CRASHES]
    crashing.unlink()
    assert left_out("2.pdf") == [CRASHES]  # remembered: LibreOffice not started for it
    [failed] = (home / "state" / "print-cache").glob("*.failed")
    day_ago = failed.stat().st_mtime - 86400 - 60
    os.utime(failed, (day_ago, day_ago))
    assert left_out("3.pdf") == []  # tried again, and converted


def test_a_teacher_folder_leaves_the_journal_of_the_managers_records_alone(
    setup: Setup, binder: Made
) -> None:
    """The journal knows records by their path in the records folder: a teacher folder's
    "Tuần 01/…" checked for the binder is no record of this PC's (its findings would be
    notified and listed by `hoso check` under a path that does not exist)."""
    share = setup.home / "share-journal"
    shutil.copytree(setup.root / "Tuần 1", share / "binh.tv" / "Tuần 01")
    config = _config(setup.home, share, "journal.toml", converter=str(setup.wrapper))
    done = setup.hoso(
        "print", "--weeks", "1", "--teacher-folder", "binh.tv", "--json", "--out", "j.pdf",
        config=config,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(json.loads(done.stdout)["included"]) == 3
    journal = Journal.open(setup.home / "state" / "journal.sqlite3")
    try:
        assert not [p for p in journal.validated() if p.startswith("Tuần 01/")]
    finally:
        journal.close()


def test_the_school_year_is_its_weeks_and_skips_other_years_folders(
    setup: Setup, binder: Made
) -> None:
    share = setup.home / "year-share"
    teacher = share / "lan.nt"
    shutil.copytree(setup.root / "Tuần 1", teacher / "Tuần 1")
    # last year's plan, kept in a school-year folder: not of 2026–2027
    shutil.copytree(setup.root / "Tuần 2", teacher / "2025-2026" / "Tuần 2")
    config = _config(setup.home, share, "year.toml", converter=str(setup.wrapper))
    done = setup.hoso(
        "print", "--year", "2026-2027", "--teacher-folder", str(teacher), "--json",
        "--out", "year.pdf", config=config,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [i["path"] for i in data["included"]] == [
        "Tuần 1/Tiếng Việt/Bài 1.docx",
        "Tuần 1/Toán/Bài 2.docx",
        "Tuần 1/Toán/Bài 10.docx",
    ]
    cover = _page_text(setup.out / "year.pdf", 1)
    assert "Năm học 2026–2027" in cover and "lan.nt" in cover


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stopping_the_binder_leaves_no_libreoffice_running(
    setup: Setup, binder: Made, signum: int
) -> None:
    """Week 3's first document hangs LibreOffice: the binder is stopped while it waits."""
    process = subprocess.Popen(
        hoso_command(
            "--config", str(setup.config_path), "print", "--weeks", "3", "--out", "stop.pdf"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hoso_env({"XDG_CONFIG_HOME": str(setup.home / "xdg")}),
        cwd=setup.out,
    )
    deadline = time.monotonic() + 60
    while not _soffice_left(setup) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    assert _soffice_left(setup)
    process.send_signal(signum)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 2 and "Aborted." in err, err  # as every hoso command on Ctrl-C
    assert "Traceback" not in err
    assert not _soffice_left(setup)
    assert not (setup.out / "stop.pdf").exists()
    assert not list((setup.home / "state" / "print-cache").glob("work-*"))  # staging removed


def test_platform_exports_go_in_only_as_the_pdfs_they_are(setup: Setup) -> None:
    """A signed học bạ export is never opened to be converted: a PDF goes in as it is, any
    other file is listed as left out."""
    root = setup.home / "platform"
    folder = root / "Tuần 1" / "Học bạ"
    folder.mkdir(parents=True)
    make_pdf(folder / "Học bạ số lớp 3A.pdf", ["HỌC BẠ SỐ – Lớp 3A – Nguyễn Văn Bình"])
    make_xlsx(folder / "Học bạ lớp 3A.xlsx", [("Họ và tên", "Toán"), ("Nguyễn Văn Bình", 9)])
    config = _config(setup.home, root, "platform.toml", converter=str(setup.wrapper))
    before = setup.conversions()
    done = setup.hoso(
        "print", "--weeks", "1", "--type", "NENTANG", "--json", "--out", "hocba.pdf",
        config=config,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [i["path"] for i in data["included"]] == ["Tuần 1/Học bạ/Học bạ số lớp 3A.pdf"]
    assert [x["path"] for x in data["left_out"]] == ["Tuần 1/Học bạ/Học bạ lớp 3A.xlsx"]
    assert "platform export" in data["left_out"][0]["reason"]
    assert setup.conversions() == before  # LibreOffice never saw it
    first = data["included"][0]["first_page"]
    assert "HỌC BẠ SỐ – Lớp 3A – Nguyễn Văn Bình" in _page_text(setup.out / "hocba.pdf", first)


@pytest.mark.parametrize(
    ("setting", "key"),
    [({"timeout": 0}, "print.timeout"), ({"include_failing": "yes"}, "print.include_failing"),
     ({"colour": True}, "print.colour")],
)  # fmt: skip
def test_a_bad_print_setting_is_named_and_nothing_is_written(
    setup: Setup, setting: dict[str, object], key: str
) -> None:
    config = _config(setup.home, setup.root, "bad-print.toml", **setting)
    before = sorted(p.name for p in setup.out.iterdir())
    done = setup.hoso("print", "--weeks", "1", config=config)
    assert done.returncode == 2 and f"`{key}`" in done.stderr, done.stderr
    assert sorted(p.name for p in setup.out.iterdir()) == before
