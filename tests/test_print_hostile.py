"""`hoso print` against what a share, a cache or a computer can throw at it: PDFs with odd page
boxes, a damaged cache, a LibreOffice that converts nothing, a full disk. Real LibreOffice
(Debian soffice), real files, read back with poppler-utils.

One small records folder is converted once for the module (a lesson plan, PDFs kept as they
came); each test makes its binder from it and asserts on the PDF and what is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from agents import hoso_command, hoso_env, to_toml
from docs_factory import Run, lesson_plan, link_picture, make_docx, make_pdf, red_png
from inspection_factory import raw_config
from pypdf import PdfReader, PdfWriter
from pypdf.annotations import FreeText, Link
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    NameObject,
    NumberObject,
    RectangleObject,
    TextStringObject,
)
from test_print import WRAPPER as FAULTY
from test_print import _config, _page_text, _pdfinfo_pages, _tree, _write

from agent import config as configmod
from plugins.inspection.binder import assemble, layout, pages
from plugins.inspection.binder.convert import KEEP_SECONDS, Converter, Source

pytestmark = pytest.mark.skipif(
    shutil.which("soffice") is None or shutil.which("pdftotext") is None,
    reason="needs Debian libreoffice-writer-nogui and poppler-utils (.ci/run installs them)",
)

SOFFICE = shutil.which("soffice") or "soffice"
PLAN = "Tuần 1/Toán/Bài 1.docx"
FIRST = "Tuần 1 – Toán – Bài 1: Các số đến 10"
ZERO = "Tuần 1/Toán/Bài 2.pdf"  # a page of 0 × 0 pt
OFFSET = "Tuần 1/Toán/Bài 3.pdf"  # its page box starts at 200, 200
CROPPED = "Tuần 1/Toán/Bài 4.pdf"  # its crop box hides its second line
DEEP = "Tuần 1/Toán/Bài 6.pdf"  # counts as one page, but its resources nest 50,000 deep
INFLATING = "Tuần 1/Toán/Bài 7.pdf"  # its content inflates past pypdf's limit
HIDDEN = "DÒNG ĐÃ CẮT BỎ"
# A LibreOffice that converts nothing while a flag file is there (not starting, a broken
# profile…), and is the real one otherwise.
WRAPPER = """#!/bin/sh
[ -e {flag!r} ] && exit 1
exec {real!r} "$@"
"""


@dataclass
class Setup:
    home: Path
    root: Path
    config: Path
    out: Path

    def hoso(
        self, *args: str, config: Path | None = None, limit: int | None = None
    ) -> subprocess.CompletedProcess[str]:
        def file_size_limit() -> None:  # a disk that fills up at ``limit`` bytes
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

        return subprocess.run(
            hoso_command("--config", str(config or self.config), *args),
            capture_output=True,
            text=True,
            env=hoso_env({"XDG_CONFIG_HOME": str(self.home / "xdg")}),
            timeout=300,
            cwd=self.out,
            preexec_fn=file_size_limit,
        )


def _rewrite(pdf: Path, change: object) -> None:
    writer = PdfWriter()
    writer.append(PdfReader(pdf))
    change(writer)  # type: ignore[operator]
    writer.write(pdf)


def _offset(writer: PdfWriter) -> None:
    page = writer.pages[0]
    page.add_transformation((1, 0, 0, 1, 200, 200))
    page.mediabox = RectangleObject([200, 200, 795.28, 1041.89])


def _crop(writer: PdfWriter) -> None:
    writer.pages[0].cropbox = RectangleObject([0, 720, 595.28, 841.89])


def _zero(writer: PdfWriter) -> None:
    writer.pages[0].mediabox = RectangleObject([0, 0, 0, 0])


def _deep_pdf() -> bytes:
    """A PDF whose page is fine until its resources are copied (pypdf then gives up)."""
    return _raw_pdf(
        b"/MediaBox [0 0 595 842] /Resources 4 0 R",
        b"<< /Nested " + b"[" * 50_000 + b"]" * 50_000 + b" >>",
    )


def _inflating_pdf() -> bytes:
    """A PDF of 80 kB whose page content inflates to 80 MB, past pypdf's limit."""
    content = zlib.compress(b"%" + b" " * 80_000_000 + b"\n", 9)
    return _raw_pdf(
        b"/MediaBox [0 0 595 842] /Contents 4 0 R",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content),
    )


def _raw_pdf(page: bytes, fourth: bytes) -> bytes:
    """One page (``page``: the rest of its dictionary) and a fourth object, written by hand."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R " + page + b" >>",
        fourth,
    ]
    data, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(data))
        data += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(data)
    data += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    data += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    data += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return data


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    home = tmp_path_factory.mktemp("print-hostile")
    root = home / "HoSo"
    _write(root, PLAN, FIRST)
    for path, change in ((ZERO, _zero), (OFFSET, _offset), (CROPPED, _crop)):
        lesson = Path(path).stem
        make_pdf(root / path, [f"Tuần 1 – Toán – {lesson}", *[""] * 8, *[HIDDEN] * 20])
        _rewrite(root / path, change)
    (root / DEEP).write_bytes(_deep_pdf())
    (root / INFLATING).write_bytes(_inflating_pdf())
    out = home / "out"
    out.mkdir()
    return Setup(home, root, _config(home, root, "agent.toml", converter=SOFFICE), out)


@pytest.fixture(scope="module")
def binder(setup: Setup) -> dict[str, object]:
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "binder.pdf")
    assert done.returncode == 1, done.stdout + done.stderr  # the 0 × 0 page is left out
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _first_page(data: dict[str, object], path: str) -> int:
    return next(i["first_page"] for i in data["included"] if i["path"] == path)  # type: ignore[attr-defined, union-attr]


def test_pdfs_that_break_when_copied_or_have_pages_of_no_size_are_left_out(
    setup: Setup, binder: dict[str, object]
) -> None:
    left_out = {x["path"]: x["reason"] for x in binder["left_out"]}  # type: ignore[union-attr]
    assert left_out.pop(ZERO) == "a PDF that cannot be printed (a page of 0 × 0 pt)"
    assert left_out.pop(DEEP).startswith("a PDF that cannot be printed (")
    assert "decompressing" in left_out.pop(INFLATING)
    assert not left_out
    assert [i["path"] for i in binder["included"]] == [PLAN, OFFSET, CROPPED]  # type: ignore[union-attr]
    pdf = setup.out / "binder.pdf"
    assert binder["pages"] == _pdfinfo_pages(pdf)
    assert FIRST in _page_text(pdf, _first_page(binder, PLAN))


def test_a_page_box_away_from_the_origin_keeps_its_footer_on_the_page(
    setup: Setup, binder: dict[str, object]
) -> None:
    pdf = setup.out / "binder.pdf"
    page = _first_page(binder, OFFSET)
    text = _page_text(pdf, page)  # pdftotext drops what lies outside the page
    assert "Tuần 1 – Toán – Bài 3" in text
    assert f"Trang {page}/{binder['pages']}" in text


def test_what_a_pdf_crops_away_stays_away(setup: Setup, binder: dict[str, object]) -> None:
    pdf = setup.out / "binder.pdf"
    page = _first_page(binder, CROPPED)
    text = _page_text(pdf, page)
    assert "Tuần 1 – Toán – Bài 4" in text and f"Trang {page}/" in text
    box = PdfReader(pdf).pages[page - 1].cropbox
    assert round(float(box.height), 2) == round(841.89 - 720, 2)  # the crop is the page
    # Nothing of the lines below the crop shows in the band kept for the footer (rendered at
    # 72 dpi: a pixel a point; the footer itself is in the middle, the left part is blank).
    prefix = setup.out / "cropped"
    subprocess.run(
        ["pdftoppm", "-r", "72", "-gray", "-f", str(page), "-l", str(page), str(pdf), str(prefix)],
        check=True,
    )
    (shot,) = setup.out.glob("cropped-*.pgm")
    _magic, width, height, _max, pixels = shot.read_bytes().split(maxsplit=4)
    columns, rows = int(width), int(height)
    band = [pixels[row * columns + col] for row in range(rows - 30, rows) for col in range(180)]
    assert min(band) > 200, "ink below the crop"


def test_a_damaged_cache_entry_is_converted_again(setup: Setup, binder: dict[str, object]) -> None:
    cache = setup.home / "state" / "print-cache"
    (entry,) = cache.glob("*.pdf")
    for damage in (entry.read_bytes()[:2000], b"%PDF-1.7\nnot a PDF at all\n%%EOF\n"):
        entry.write_bytes(damage)  # cut short by a crash; or overwritten
        name = f"again-{len(damage)}.pdf"
        done = setup.hoso("print", "--weeks", "1", "--json", "--out", name)
        data = json.loads(done.stdout)
        assert [i["path"] for i in data["included"]] == [PLAN, OFFSET, CROPPED], done.stderr
        assert data["converted"] == 1 and data["cached"] == 0
        assert FIRST in _page_text(setup.out / name, _first_page(data, PLAN))
        assert PdfReader(entry).pages  # the cache holds a whole PDF again


def test_a_full_disk_says_so_and_leaves_nothing_behind(
    setup: Setup, binder: dict[str, object]
) -> None:
    # a record big enough that the binder does not fit under the limit
    big = setup.root / "Tuần 1/Toán/Bài 5.pdf"
    make_pdf(big, ["Tuần 1 – Toán – Bài 5"])

    def add_weight(writer: PdfWriter) -> None:
        junk = DecodedStreamObject()
        junk.set_data(os.urandom(1_500_000))
        resources = writer.pages[0]["/Resources"]
        resources[NameObject("/Junk")] = writer._add_object(junk)  # type: ignore[index]

    _rewrite(big, add_weight)
    records = _tree(setup.root)
    before = sorted(setup.out.iterdir())
    try:
        done = setup.hoso("print", "--weeks", "1", "--out", "full.pdf", limit=1_000_000)
    finally:
        big.unlink()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "could not be written" in done.stderr and "full.pdf" in done.stderr
    assert "Unexpected error" not in done.stderr and "Traceback" not in done.stderr
    assert sorted(setup.out.iterdir()) == before  # no binder, no temporary file
    records.pop("Tuần 1/Toán/Bài 5.pdf")
    assert _tree(setup.root) == records


def test_a_libreoffice_that_converts_nothing_is_not_held_against_the_records(
    setup: Setup,
) -> None:
    """When LibreOffice did not work at all, its failures are not remembered in the cache:
    once it works again, the records are converted."""
    flag = setup.home / "broken"
    wrapper = setup.home / "soffice-flag"
    wrapper.write_text(WRAPPER.format(flag=str(flag), real=SOFFICE), encoding="utf-8")
    wrapper.chmod(0o755)
    home = setup.home / "fresh"  # a state folder of its own: an empty cache
    home.mkdir()
    config = _config(home, setup.root, "flag.toml", converter=str(wrapper))
    flag.touch()
    broken = setup.hoso("print", "--weeks", "1", "--json", "--out", "broken.pdf", config=config)
    assert broken.returncode == 1, broken.stderr
    left_out = {x["path"]: x["reason"] for x in json.loads(broken.stdout)["left_out"]}
    assert "could not be converted" in left_out[PLAN]
    assert not list((home / "state" / "print-cache").glob("*.failed"))
    flag.unlink()
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "works.pdf", config=config)
    data = json.loads(done.stdout)
    assert PLAN in [i["path"] for i in data["included"]], done.stderr
    assert data["converted"] == 1


def test_a_pdf_replaced_after_it_was_counted_stops_the_binder(tmp_path: Path) -> None:
    """A sync may replace a record between counting its pages and copying them: the page
    plan (contents, footers) would be wrong, so nothing is made."""
    pdf = tmp_path / "Bài 1.pdf"
    make_pdf(pdf, ["Tuần 1 – Toán – Bài 1"])
    entries = [layout.Entry(1, "Toán", "Bài 1", pages=2)]  # it had two pages when counted
    plan = layout.plan(entries, lines_per_page=pages.LINES_PER_PAGE, closing=False)
    fonts = pages.find_fonts()
    cover = pages.Cover("", "Trường", "KẾ HOẠCH BÀI DẠY", "Lan", "", (), "2026 – 2027", "Tuần 1")
    front = pages.front(fonts, cover, layout.contents_page_lines(plan, pages.LINES_PER_PAGE))
    with pytest.raises(assemble.Changed) as raised:
        assemble.assemble(
            front,
            [assemble.Part(pdf)],
            entries,
            plan,
            None,
            lambda overlays: pages.overlays(fonts, overlays),
            title="KẾ HOẠCH BÀI DẠY",
            author="Lan",
        )
    assert raised.value.index == 0


@pytest.mark.parametrize("where", ["cwd", "out"])
def test_the_binder_is_never_written_into_the_school_folder(setup: Setup, where: str) -> None:
    """The school folder is synced to the whole school: a teacher's binder there would be
    handed to every colleague."""
    school = setup.home / "Truong"
    (school / "Biểu mẫu").mkdir(parents=True, exist_ok=True)
    raw = raw_config(setup.root, setup.home / "state")
    raw["school"].pop("reviewers")
    raw["school"].pop("mailbox")
    raw["school"].update(folder_url="Truong", folder_root=str(school))
    raw["print"] = {"converter": SOFFICE}
    config = setup.home / "config" / "school.toml"
    configmod.write_private(config, to_toml(raw))
    args = ["--config", str(config), "print", "--weeks", "1"]
    cwd = school / "Biểu mẫu" if where == "cwd" else setup.out
    if where == "out":
        args += ["--out", str(school / "Biểu mẫu" / "binder.pdf")]
    done = subprocess.run(
        hoso_command(*args),
        capture_output=True,
        text=True,
        env=hoso_env({"XDG_CONFIG_HOME": str(setup.home / "xdg")}),
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "school folder" in done.stderr and "Traceback" not in done.stderr
    assert list(school.rglob("*")) == [school / "Biểu mẫu"]  # nothing written there


def test_long_paths_and_reasons_on_the_closing_page_stay_above_the_footer(
    setup: Setup,
) -> None:
    """Files of one name in two Unicode spellings (copied from a Mac) are left out with a
    reason quoting both long paths: each item fits above the footer or starts a page."""
    root = setup.home / "long-names"
    words = "Ôn tập các số trong phạm vi một nghìn và phép cộng có nhớ " * 3
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    make_pdf(root / "Tuần 1" / "Toán" / "Bài 0.pdf", ["Tuần 1 – Toán – Bài 0"])
    for i in range(1, 13):
        folder = root / "Tuần 1" / "Toán" / f"Chủ đề {i} {words}"[:120]
        folder.mkdir(parents=True)
        name = f"Bài {i} {words}"[:110] + ".pdf"
        for form in ("NFC", "NFD"):
            make_pdf(folder / unicodedata.normalize(form, name), [f"Bài {i}"])
    config = _config(setup.home, root, "long.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "long.pdf", config=config)
    data = json.loads(done.stdout)
    assert done.returncode == 1 and len(data["left_out"]) == 12, done.stderr
    pdf = setup.out / "long.pdf"
    bbox = subprocess.run(
        ["pdftotext", "-bbox", "-f", "5", str(pdf), "-"], capture_output=True, text=True
    ).stdout
    for number, page in enumerate(bbox.split("<page ")[1:], start=5):
        height = float(re.search(r'height="([\d.]+)"', page).group(1))  # type: ignore[union-attr]
        low = [
            word
            for y, word in re.findall(r'yMax="([\d.]+)">([^<]*)</word>', page)
            if float(y) > height - 34  # the footer band: 12 mm
        ]
        assert low == ["Trang", f"{number}/{data['pages']}"], (number, low)
    # nothing lost off the page: the last reason ends on the last page
    text = re.sub(r"\s+", "", _page_text(pdf, data["pages"]))
    assert re.sub(r"\s+", "", data["left_out"][-1]["reason"])[-80:] in text


def test_annotations_follow_the_content_and_lose_their_actions(setup: Setup) -> None:
    """A note laid over a line (as a signature's stamp or a form's value is) is still over
    that line in the binder; scripts in a PDF from the share do not reach the binder."""
    root = setup.home / "annotated"
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    record = root / "Tuần 1" / "Toán" / "Bài 1.pdf"
    make_pdf(record, ["Tuần 1 – Toán – Bài 1"])
    script = DictionaryObject(
        {NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("1")}
    )

    def annotate(writer: PdfWriter) -> None:
        writer.add_annotation(0, FreeText(text="ĐIỂM 10", rect=(29, 799, 63, 817)))
        writer.add_annotation(0, Link(rect=(25, 600, 260, 640), url="https://example.com"))
        writer.pages[0]["/Annots"][1].get_object()[NameObject("/A")] = script  # type: ignore[index]
        writer.pages[0][NameObject("/AA")] = DictionaryObject({NameObject("/O"): script})

    _rewrite(record, annotate)
    # annotations that are not a list of them: nothing to print, and no crash
    for number, annots in ((2, NumberObject(5)), (3, ArrayObject([NumberObject(3)]))):
        odd = root / "Tuần 1" / "Toán" / f"Bài {number}.pdf"
        make_pdf(odd, [f"Tuần 1 – Toán – Bài {number}"])
        _rewrite(odd, lambda w, a=annots: w.pages[0].__setitem__(NameObject("/Annots"), a))
    config = _config(setup.home, root, "annotated.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "annotated.pdf", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    pdf = setup.out / "annotated.pdf"
    included = json.loads(done.stdout)["included"]
    assert len(included) == 3
    page = included[0]["first_page"]
    binder = PdfReader(pdf).pages[page - 1]
    assert "/AA" not in binder
    notes = [a.get_object() for a in binder["/Annots"]]  # type: ignore[union-attr]
    assert [n["/Subtype"] for n in notes] == ["/FreeText", "/Link"]
    assert all("/A" not in n and "/AA" not in n for n in notes)
    # where pdftotext finds the line (from the top), in PDF points (from the bottom)
    bbox = subprocess.run(
        ["pdftotext", "-bbox", "-f", str(page), "-l", str(page), str(pdf), "-"],
        capture_output=True,
        text=True,
    ).stdout
    height = float(binder.mediabox.height)
    word = r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">Tuần<'
    x0, top, x1, bottom = (float(v) for v in re.findall(word, bbox)[0])
    left, low, right, high = (float(v) for v in notes[0]["/Rect"])
    assert left <= x0 and x1 <= right and low <= height - bottom and height - top <= high


def test_names_that_reorder_text_or_break_lines_are_printed_escaped(setup: Setup) -> None:
    """A right-to-left override in a file name would show another name on paper and in the
    bookmarks (as on a terminal, it is escaped); a newline does not break a contents line."""
    root = setup.home / "names"
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    for name in ("Bài 1 \u202eabc.exe", "Bài 2\nxuống dòng"):
        make_pdf(root / "Tuần 1" / "Toán" / f"{name}.pdf", [f"Tuần 1 – {name[:5]}"])
    config = _config(setup.home, root, "names.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "names.pdf", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    pdf = setup.out / "names.pdf"
    contents = _page_text(pdf, 3)
    assert "Bài 1 \\u202eabc.exe" in contents and "\u202e" not in contents
    assert "Bài 2\\x0axuống dòng" in contents

    def titles(items: list[object]) -> list[str]:
        return [
            t for item in items for t in (titles(item) if isinstance(item, list) else [item.title])
        ]  # type: ignore[attr-defined]

    flat = "".join(titles(PdfReader(pdf).outline))
    assert "Bài 2" in flat and "abc.exe" in flat
    assert "\u202e" not in flat and "\n" not in flat
    # a teacher's folder on a manager's copy, named by the share: on the cover, escaped
    teacher = setup.home / "names-share" / "lan\u202e.nt"
    shutil.copytree(root, teacher)
    config = _config(setup.home, teacher.parent, "share.toml", converter=SOFFICE)
    done = setup.hoso(
        "print", "--weeks", "1", "--teacher-folder", teacher.name, "--out", "share.pdf",
        config=config,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    cover = _page_text(setup.out / "share.pdf", 1)
    assert "lan\\u202e.nt" in cover and "\u202e" not in cover
    assert "\u202e" not in str(PdfReader(setup.out / "share.pdf").metadata)


def test_the_cache_dates_what_it_uses_by_the_binders_now_not_the_clock(tmp_path: Path) -> None:
    """Time is an input: an entry a binder uses is dated by that binder's ``now``, and the
    clean-up measures from the same ``now``."""
    cache = tmp_path / "cache"
    cache.mkdir()
    record = tmp_path / "Bài 1.docx"
    record.write_bytes(b"a lesson plan")
    now = 1_900_000_000.0  # 2030
    converter = Converter(Path(SOFFICE), cache, timeout=5, now=now)
    entry = cache / f"{hashlib.sha256(b'a lesson plan').hexdigest()}-{converter.version}.pdf"
    make_pdf(entry, ["Bài 1"])
    (used,) = converter.convert([Source(record, ".docx")])
    assert used.pdf == entry and not used.fresh
    assert entry.stat().st_mtime == now
    later = Converter(Path(SOFFICE), cache, timeout=5, now=now + KEEP_SECONDS - 60)
    assert later.prune() == 0 and entry.exists()
    much_later = Converter(Path(SOFFICE), cache, timeout=5, now=now + KEEP_SECONDS + 60)
    assert much_later.prune() == 1 and not entry.exists()


def test_the_same_bytes_under_two_suffixes_are_converted_once_and_both_printed(
    setup: Setup,
) -> None:
    root = setup.home / "suffixes"
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    plan = (setup.root / PLAN).read_bytes()
    for name in ("Bài 1.docx", "Bài 2.doc", "Bài 3.docx"):
        (root / "Tuần 1" / "Toán" / name).write_bytes(plan)
    home = setup.home / "suffixes-home"  # an empty cache
    home.mkdir()
    config = _config(home, root, "suffixes.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "suffixes.pdf", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert [Path(i["path"]).name for i in data["included"]] == [
        "Bài 1.docx",
        "Bài 2.doc",
        "Bài 3.docx",
    ]
    for item in data["included"]:
        assert FIRST in _page_text(setup.out / "suffixes.pdf", item["first_page"])
    cache = home / "state" / "print-cache"
    assert len(list(cache.glob("*.pdf"))) == 1 and not list(cache.glob("*.failed"))


def test_a_pdf_of_thousands_of_pages_is_left_out_not_copied(setup: Setup) -> None:
    root = setup.home / "thick"
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    make_pdf(root / "Tuần 1" / "Toán" / "Bài 1.pdf", ["Tuần 1 – Toán – Bài 1"])
    thick = root / "Tuần 1" / "Toán" / "Bài 2.pdf"
    make_pdf(thick, ["Tuần 1 – Toán – Bài 2"])

    def thicken(writer: PdfWriter) -> None:
        for _ in range(assemble.MAX_PAGES):
            writer.add_page(writer.pages[0])

    _rewrite(thick, thicken)
    config = _config(setup.home, root, "thick.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "thick.pdf", config=config)
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["left_out"] == [
        {
            "path": "Tuần 1/Toán/Bài 2.pdf",
            "reason": f"a PDF that cannot be printed ({assemble.MAX_PAGES + 1} pages, over "
            f"{assemble.MAX_PAGES} for a binder)",
        }
    ]
    assert data["pages"] == _pdfinfo_pages(setup.out / "thick.pdf") < 20


def test_sigterm_after_the_conversion_unwinds_like_ctrl_c(setup: Setup) -> None:
    """A closed terminal or a service stop while the binder is being put together: "Aborted."
    (exit 2) as on Ctrl-C, and nothing left in the output folder."""
    root = setup.home / "slow"
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    slow = root / "Tuần 1" / "Toán" / "Bài 1.pdf"
    make_pdf(slow, ["Tuần 1 – Toán – Bài 1"])

    def thicken(writer: PdfWriter) -> None:  # some seconds to check and copy
        for _ in range(assemble.MAX_PAGES - 1):
            writer.add_page(writer.pages[0])

    _rewrite(slow, thicken)
    home = setup.home / "slow-home"
    home.mkdir()
    config = _config(home, root, "slow.toml", converter=SOFFICE)
    out = setup.home / "slow-out"
    out.mkdir()
    process = subprocess.Popen(
        hoso_command("--config", str(config), "print", "--weeks", "1", "--out", "slow.pdf"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hoso_env({"XDG_CONFIG_HOME": str(setup.home / "xdg")}),
        cwd=out,
    )
    cache = home / "state" / "print-cache"
    while not cache.exists():  # made when the conversion starts: the records are chosen
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "Aborted." in err, (process.returncode, err)
    assert list(out.iterdir()) == []


def test_a_document_linking_a_picture_outside_the_records_folder_does_not_print_it(
    setup: Setup,
) -> None:
    """A .docx from the share whose picture is a link to file:///… elsewhere on the computer:
    LibreOffice must not load it into the binder (nor any address it links to)."""
    outside = setup.home / "outside.png"
    outside.write_bytes(red_png())
    root = setup.home / "linked"
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    record = root / "Tuần 1" / "Toán" / "Bài 1.docx"
    _write(root, "Tuần 1/Toán/Bài 1.docx", FIRST)
    link_picture(record, outside.as_uri())
    home = setup.home / "linked-home"  # a LibreOffice profile of its own, made afresh
    home.mkdir()
    config = _config(home, root, "linked.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "linked.pdf", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    pdf = setup.out / "linked.pdf"
    assert FIRST in _page_text(pdf, data["included"][0]["first_page"])
    images = subprocess.run(
        ["pdfimages", "-list", str(pdf)], capture_output=True, text=True, check=True
    ).stdout.splitlines()[2:]
    assert images == []


def test_documents_that_crash_libreoffice_in_a_row_do_not_sink_the_rest(setup: Setup) -> None:
    """Four plans in a row crash LibreOffice (a wrapper of the test's own, as in
    test_print): the plan after them is still converted, not given up as "LibreOffice did not
    start" (which, remembered, would have left it out of every binder after)."""
    root = setup.home / "crashing"
    folder = root / "Tuần 1" / "Toán"
    folder.mkdir(parents=True)
    for number in range(1, 7):
        body: list[object] = [f"Tuần 1 – Toán – Bài {number}", *lesson_plan(activity_rows=1)]
        if 2 <= number <= 5:
            body.append(Run("HOSO-CRASH"))
        make_docx(folder / f"Bài {number}.docx", body)  # type: ignore[arg-type]
    log = setup.home / "crashing.log"
    wrapper = setup.home / "soffice-crashing"
    wrapper.write_text(
        FAULTY.format(python=shutil.which("python3"), real=SOFFICE, log=str(log)),
        encoding="utf-8",
    )
    wrapper.chmod(0o755)
    home = setup.home / "crashing-home"
    home.mkdir()
    config = _config(home, root, "crashing.toml", converter=str(wrapper))
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "crashing.pdf", config=config)
    data = json.loads(done.stdout)
    assert [Path(i["path"]).name for i in data["included"]] == ["Bài 1.docx", "Bài 6.docx"]
    assert [Path(x["path"]).name for x in data["left_out"]] == [
        f"Bài {n}.docx" for n in range(2, 6)
    ]
    assert all("LibreOffice stopped on it" in x["reason"] for x in data["left_out"])


def test_a_teacher_folder_that_is_a_loop_of_links_is_refused_with_a_message(
    setup: Setup,
) -> None:
    share = setup.home / "looping"
    share.mkdir()
    (share / "loop").symlink_to("loop")
    config = _config(setup.home, share, "looping.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--teacher-folder", "loop", config=config)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--teacher-folder loop: give a teacher's folder inside" in done.stderr
    assert sorted(p.name for p in share.iterdir()) == ["loop"]


def test_a_contents_of_several_pages_gives_the_page_of_each_records_first_line(
    setup: Setup,
) -> None:
    """40 plans of one or two pages in 18 weeks: the contents run over three pages, and each
    entry still gives the page where the plan's first line is; weeks start on odd pages and
    every "Trang x/y" counts the real pages."""
    root = setup.home / "term"
    firsts = {}
    for number in range(1, 41):
        week, subject = (number - 1) % 18 + 1, ("Toán", "Tiếng Việt")[number % 2]
        path = f"Tuần {week}/{subject}/Bài {number}.pdf"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        firsts[path] = f"MỞ ĐẦU BÀI {number}"
        make_pdf(root / path, [firsts[path], *["dòng"] * (70 if number % 3 == 0 else 2)])
    config = _config(setup.home, root, "term.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1-18", "--json", "--out", "term.pdf", config=config)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    pdf = setup.out / "term.pdf"
    total = _pdfinfo_pages(pdf)
    texts = [_page_text(pdf, n) for n in range(1, total + 1)]
    assert data["pages"] == total and sum("MỤC LỤC" in t for t in texts) == 3
    contents = []
    for text in texts:
        if "MỤC LỤC" in text:
            contents += re.findall(r"^\s*(\S.*?)\s*\.{3,}\s*(\d+)\s*$", text, re.M)
    pages = dict(contents)
    for item in data["included"]:
        first = item["first_page"]
        assert pages[Path(item["path"]).stem] == str(first)
        assert firsts[item["path"]] in texts[first - 1]
        assert firsts[item["path"]] not in texts[first - 2]
    for week in range(1, 19):
        assert int(pages[f"Tuần {week}"]) % 2 == 1
    for number, text in enumerate(texts, start=1):
        assert ("Trang" in text) == (f"Trang {number}/{total}" in text)


def test_a_page_turned_by_a_quarter_is_printed_and_any_other_turn_is_left_out(
    setup: Setup,
) -> None:
    root = setup.home / "turned"
    (root / "Tuần 1" / "Toán").mkdir(parents=True)
    turns = {1: NumberObject(90), 2: NumberObject(45), 3: NameObject("/Sideways")}
    for number, turn in turns.items():
        record = root / "Tuần 1" / "Toán" / f"Bài {number}.pdf"
        make_pdf(record, [f"Tuần 1 – Toán – Bài {number}"])
        _rewrite(
            record,
            lambda writer, turn=turn: writer.pages[0].__setitem__(NameObject("/Rotate"), turn),
        )
    config = _config(setup.home, root, "turned.toml", converter=SOFFICE)
    done = setup.hoso("print", "--weeks", "1", "--json", "--out", "turned.pdf", config=config)
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert {x["path"]: x["reason"] for x in data["left_out"]} == {
        "Tuần 1/Toán/Bài 2.pdf": "a PDF that cannot be printed (a page turned by 45)",
        "Tuần 1/Toán/Bài 3.pdf": "a PDF that cannot be printed (a page turned by /Sideways)",
    }
    (item,) = data["included"]
    text = _page_text(setup.out / "turned.pdf", item["first_page"])
    assert "Bài 1" in text and f"Trang {item['first_page']}/{data['pages']}" in text
