"""Reading the formats search needs beyond those the checks read: OpenDocument spreadsheets,
PowerPoint slides and plain text (.ods, .pptx, .txt, .md), real files written into tmp_path
(odfpy, hand-written OOXML, bytes in each encoding, and once through LibreOffice), legacy
TCVN3/VNI text converted, hostile files refused quickly; and validation unchanged by them."""

from __future__ import annotations

import codecs
import dataclasses
import re
import shutil
import subprocess
import time
import tracemalloc
import unicodedata
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from docs_factory import (
    Para,
    Run,
    Slide,
    Table,
    make_ods,
    make_pptx,
    make_xlsx,
    tcvn3,
    texts,
    unreadable,
    vni,
)

from agent import api
from agent.documents.legacy import RATIO_FROM_BYTES, encode
from agent.documents.model import (
    READABLE_SUFFIXES,
    Block,
    Document,
    Legacy,
    Limit,
    TooComplex,
    Unreadable,
    UnreadableReason,
)
from agent.documents.readers import MAX_CELLS, MAX_TEXT_BYTES, read_document
from agent.documents.sandbox import DEFAULT_LIMITS, shared
from agent.records import Record
from agent.recordtypes import load_types_file, shipped_types_file

NFD = unicodedata.normalize("NFD", "Rút kinh nghiệm sau bài dạy")


def refused(path: Path) -> Limit:
    with pytest.raises(TooComplex) as raised:
        read_document(path)
    return raised.value.limit


# --- OpenDocument spreadsheet ---------------------------------------------------------------


def test_ods_every_sheet_cell_by_cell_row_by_row(tmp_path: Path) -> None:
    path = make_ods(
        tmp_path / "Sổ chủ nhiệm.ods",
        [
            ["Họ và tên", "Toán", None, "Ghi chú"],
            ["Nguyễn Văn An", 9, "", NFD],
            [tcvn3("Lê Thị Bình"), 7.5, Run("Đạt", bold=True), tcvn3("ghi chép", ".VnTimeH")],
            [["Dòng một", "Dòng hai"], Para((Run("Môn: "), vni("Tiếng Việt")))],
        ],
        [["Trang hai", tcvn3("Rút kinh nghiệm")]],
    )
    document = read_document(path)
    assert document.format == "ods"
    assert document.blocks == (
        Block("Họ và tên", in_table=True),
        Block("Toán", in_table=True),
        Block("Ghi chú", in_table=True),
        Block("Nguyễn Văn An", in_table=True),
        Block("9", in_table=True),
        Block("Rút kinh nghiệm sau bài dạy", in_table=True),  # NFD read as NFC
        Block("Lê Thị Bình", in_table=True, legacy=Legacy.TCVN3),
        Block("7.5", in_table=True),
        Block("Đạt", bold=True, in_table=True),
        Block("GHI CHÉP", in_table=True, legacy=Legacy.TCVN3),
        Block("Dòng một\nDòng hai", in_table=True),
        Block("Môn: Tiếng Việt", in_table=True, legacy=Legacy.VNI),
        Block("Trang hai", in_table=True),
        Block("Rút kinh nghiệm", in_table=True, legacy=Legacy.TCVN3),
    )


_ODS_NS = " ".join(
    f'xmlns:{prefix}="urn:oasis:names:tc:opendocument:xmlns:{name}:1.0"'
    for prefix, name in (
        ("office", "office"),
        ("table", "table"),
        ("text", "text"),
        ("style", "style"),
        ("fo", "xsl-fo-compatible"),
        ("svg", "svg-compatible"),
    )
)
_VNTIME_CELL = (
    '<office:font-face-decls><style:font-face style:name=".VnTime" svg:font-family=".VnTime"/>'
    '</office:font-face-decls><office:automatic-styles><style:style style:name="ce1" '
    'style:family="table-cell"><style:text-properties style:font-name=".VnTime"/></style:style>'
    # A drawing style of the same name: names are unique only within a family.
    '<style:style style:name="ce1" style:family="graphic"><style:text-properties '
    'style:font-name="Arial"/></style:style>'
    '<style:style style:name="ce2" style:family="table-cell"><style:text-properties '
    'fo:font-weight="bold"/></style:style></office:automatic-styles>'
)


def raw_ods(path: Path, sheet_xml: str, *, head: str = _VNTIME_CELL) -> Path:
    """An .ods written by hand: ``sheet_xml`` is the inside of one table:table."""
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODS_NS}>{head}'
        '<office:body><office:spreadsheet><table:table table:name="Trang 1">'
        f"{sheet_xml}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        package.writestr("content.xml", content)
    return path


def cell(text: str, attributes: str = "") -> str:
    return f"<table:table-cell {attributes}><text:p>{text}</text:p></table:table-cell>"


EMPTY_TAIL = (  # what LibreOffice writes below and beside the last cell it used
    '<table:table-row table:number-rows-repeated="1048000">'
    '<table:table-cell table:number-columns-repeated="16384"/></table:table-row>'
)


def test_ods_repeats_are_expanded_when_they_hold_text_and_styles_come_from_row_or_column(
    tmp_path: Path,
) -> None:
    # One word each: too little for a guess by content, only the font converts them.
    bai, hoc = encode("Bài", Legacy.TCVN3), encode("Học", Legacy.TCVN3)
    path = raw_ods(
        tmp_path / "lặp.ods",
        "".join(
            [
                "<table:table-header-columns><table:table-column "
                'table:default-cell-style-name="ce1"/></table:table-header-columns>',
                '<table:table-column table:number-columns-repeated="16383" '
                'table:default-cell-style-name="Default"/>',
                '<table:table-header-rows><table:table-row table:number-rows-repeated="2">',
                cell("Có", 'table:style-name="Default" table:number-columns-repeated="3"'),
                '<table:table-cell table:number-columns-repeated="16381"/></table:table-row>',
                "</table:table-header-rows>",
                '<table:table-row table:number-rows-repeated="5000"><table:table-cell '
                'table:number-columns-repeated="16384"/></table:table-row>',
                "<table:table-row>",
                cell(bai),
                cell("Học sinh"),
                cell(hoc, 'table:style-name="ce1"'),
                "<table:table-cell><office:annotation><text:p>chỉ là ghi chú</text:p>",
                "</office:annotation></table:table-cell></table:table-row>",
                '<table:table-row-group><table:table-row table:default-cell-style-name="ce2">',
                cell("Đậm"),
                "</table:table-row></table:table-row-group>",
                EMPTY_TAIL,
            ]
        ),
    )
    assert read_document(path).blocks == (
        *[Block("Có", in_table=True)] * 6,
        Block("Bài", in_table=True, legacy=Legacy.TCVN3),  # the column's .VnTime
        Block("Học sinh", in_table=True),
        Block("Học", in_table=True, legacy=Legacy.TCVN3),  # its own .VnTime
        Block("Đậm", bold=True, in_table=True),  # the row's default style
    )


def test_ods_a_million_repeated_rows_answer_at_once_in_little_memory(tmp_path: Path) -> None:
    row = f"<table:table-row>{cell('Đầu bảng')}</table:table-row>"
    empty = raw_ods(tmp_path / "trống.ods", row + EMPTY_TAIL * 50 + row)  # 52 million rows
    hostile = raw_ods(
        tmp_path / "độc.ods",
        '<table:table-row table:number-rows-repeated="1048000">'
        + cell("Rút kinh nghiệm", 'table:number-columns-repeated="16384"')
        + "</table:table-row>",
    )
    wide = raw_ods(  # each row under the cap, together over it
        tmp_path / "rộng.ods",
        (
            '<table:table-row table:number-rows-repeated="300">'
            + cell("Có", f'table:number-columns-repeated="{MAX_CELLS // 1000}"')
            + "</table:table-row>"
        )
        * 4,
    )
    tracemalloc.start()
    started = time.monotonic()
    try:
        assert texts(read_document(empty)) == ["Đầu bảng", "Đầu bảng"]
        assert refused(hostile) is Limit.SIZE
        assert refused(wide) is Limit.SIZE
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0 and peak < 20 * 1024 * 1024, (elapsed, peak)


def test_ods_odd_counts_are_read_as_counts_not_as_a_damaged_file(tmp_path: Path) -> None:
    huge = "9" * 5000  # past the 4,300 digits int() converts
    spaced = '<table:table-cell><text:p>Rút<text:s text:c="²"/>kinh</text:p></table:table-cell>'
    empty = f'<table:table-cell table:number-columns-repeated="{huge}"/>'
    odd = raw_ods(tmp_path / "lạ.ods", f"<table:table-row>{spaced}{empty}</table:table-row>")
    assert texts(read_document(odd)) == ["Rút kinh"]
    repeated = cell("Bài 1", f'table:number-columns-repeated="{huge}"')
    many = raw_ods(tmp_path / "nhiều.ods", f"<table:table-row>{repeated}</table:table-row>")
    assert refused(many) is Limit.SIZE


def test_ods_a_chain_of_60000_styles_costs_little(tmp_path: Path) -> None:
    # Each cell's style walked its whole chain anew: the worker's 20 s limit for 330 KB.
    chained = "".join(
        f'<style:style style:name="s{i}" style:family="table-cell" '
        f'style:parent-style-name="s{i + 1}"/>'
        for i in range(60_000)
    )
    styles = f"<office:automatic-styles>{chained}</office:automatic-styles>"
    cells = "".join(cell("Bài", f'table:style-name="s{i}"') for i in range(0, 60_000, 100))
    path = raw_ods(
        tmp_path / "kiểu.ods", f"<table:table-row>{cells}</table:table-row>", head=styles
    )
    tight = shared(dataclasses.replace(DEFAULT_LIMITS, cpu_seconds=3))
    assert texts(tight.read(path)) == ["Bài"] * 600


def test_ods_that_is_not_a_spreadsheet_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "x.ods"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr(
            "content.xml",
            f"<office:document-content {_ODS_NS}><office:body><office:text/>"
            "</office:body></office:document-content>",
        )
    assert unreadable(path) is UnreadableReason.CORRUPT


# --- PowerPoint -----------------------------------------------------------------------------


def test_pptx_slides_in_presentation_order_titles_groups_tables_and_legacy_runs(
    tmp_path: Path,
) -> None:
    path = make_pptx(
        tmp_path / "Bài 5 - Trình chiếu.pptx",
        [
            Slide(title="Bài 5: Phép cộng", center_title=True, body=(NFD,)),
            Slide(
                title=tcvn3("Khởi động"),
                body=(
                    Para((Run("Môn: "), tcvn3("Tiếng Việt"))),
                    vni("Học sinh đọc đúng", bold=True),
                    Para((Run("Đọc ", bold=True), Run("to", bold=True))),
                    tcvn3("kế hoạch", ".VnTimeH"),
                    "   ",
                ),
                grouped=("Trong nhóm",),
                table=Table((("Giáo viên", "Học sinh"), (tcvn3("Rút kinh nghiệm"), "Ô thường"))),
            ),
            Slide(body=("Củng cố",)),
        ],
    )
    document = read_document(path)
    assert document.format == "pptx"
    assert document.blocks == (
        Block("Bài 5: Phép cộng", heading_level=0),
        Block("Rút kinh nghiệm sau bài dạy"),
        Block("Khởi động", heading_level=1, legacy=Legacy.TCVN3),
        Block("Môn: Tiếng Việt", legacy=Legacy.TCVN3),
        Block("Học sinh đọc đúng", bold=True, legacy=Legacy.VNI),
        Block("Đọc to", bold=True),
        Block("KẾ HOẠCH", legacy=Legacy.TCVN3),
        Block("Trong nhóm"),
        Block("Giáo viên", in_table=True),
        Block("Học sinh", in_table=True),
        Block("Rút kinh nghiệm", in_table=True, legacy=Legacy.TCVN3),
        Block("Ô thường", in_table=True),
        Block("Củng cố"),
    )


def test_pptx_legacy_text_in_an_inherited_font_is_guessed(tmp_path: Path) -> None:
    # The run names no font (the theme's): the paragraph's content says TCVN3.
    path = make_pptx(
        tmp_path / "cũ.pptx", [Slide(body=(Run(encode("Rút kinh nghiệm", Legacy.TCVN3)),))]
    )
    assert read_document(path).blocks == (Block("Rút kinh nghiệm", legacy=Legacy.TCVN3),)


def test_pptx_zip_bombs_are_refused_before_parsing(tmp_path: Path) -> None:
    paragraph = "<a:p><a:r><a:t>Rút kinh nghiệm. Rút kinh nghiệm.</a:t></a:r></a:p>"
    bloated = paragraph * (RATIO_FROM_BYTES // len(paragraph.encode()) + 1000)
    bomb = make_pptx(tmp_path / "bom.pptx", [Slide(body=("Bài 1",))])
    with zipfile.ZipFile(bomb) as package:
        slide = package.read("ppt/slides/slide1.xml").decode()
        parts = {i.filename: package.read(i) for i in package.infolist()}
    parts["ppt/slides/slide1.xml"] = slide.replace("</p:txBody>", bloated + "</p:txBody>").encode()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)
    assert bomb.stat().st_size < 200_000  # 8 MB of slide in a few KB
    assert refused(bomb) is Limit.SIZE


def _rewritten(path: Path, part: str, change: Callable[[str], str]) -> Path:
    with zipfile.ZipFile(path) as package:
        parts = {i.filename: package.read(i) for i in package.infolist()}
    parts[part] = change(parts[part].decode()).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)
    return path


def test_pptx_a_slide_listed_again_and_again_is_read_once(tmp_path: Path) -> None:
    path = make_pptx(tmp_path / "lặp.pptx", [Slide(body=("Rút kinh nghiệm",))])

    def listed_again(listing: str) -> str:
        first = re.search(r"<p:sldId [^>]*/>", listing)
        assert first is not None
        again = "".join(first.group().replace('id="', f'id="{n}', 1) for n in range(1, 20_001))
        return listing.replace(first.group(), first.group() + again)

    _rewritten(path, "ppt/presentation.xml", listed_again)
    assert texts(read_document(path)) == ["Rút kinh nghiệm"]


HOSTILE_PROLOGUES = [  # entity expansion, an external entity
    '<!DOCTYPE d [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;">]>',
    '<!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>',
]


@pytest.mark.parametrize("prologue", HOSTILE_PROLOGUES)
def test_hostile_xml_in_slides_and_sheets_is_corrupt(tmp_path: Path, prologue: str) -> None:
    sheet = raw_ods(tmp_path / "a.ods", f"<table:table-row>{cell('&c;&e;')}</table:table-row>")
    _rewritten(sheet, "content.xml", lambda xml: xml.replace("?>", "?>" + prologue, 1))
    slides = make_pptx(tmp_path / "b.pptx", [Slide(body=("Bài 1",))])

    def with_entities(xml: str) -> str:
        return xml.replace("?>", "?>" + prologue, 1).replace("Bài 1", "&c;&e;")

    _rewritten(slides, "ppt/slides/slide1.xml", with_entities)
    for path in (sheet, slides):
        assert unreadable(path) is UnreadableReason.CORRUPT


def test_nesting_past_the_parsers_depth_is_corrupt_not_a_recursion(tmp_path: Path) -> None:
    deep = "<text:span>" * 100_000 + "Bài" + "</text:span>" * 100_000
    sheet = raw_ods(tmp_path / "a.ods", f"<table:table-row>{cell(deep)}</table:table-row>")
    slides = make_pptx(tmp_path / "b.pptx", [Slide(body=("Bài 1",))])
    groups = "<p:grpSp>" * 100_000, "</p:grpSp>" * 100_000
    part = "ppt/slides/slide1.xml"
    _rewritten(slides, part, lambda xml: xml.replace("<p:sp>", groups[0] + "<p:sp>", 1))
    _rewritten(slides, part, lambda xml: xml.replace("</p:spTree>", groups[1] + "</p:spTree>"))
    for path in (sheet, slides):  # libxml2 stops at 256 levels: the readers never recurse deep
        assert unreadable(path) is UnreadableReason.CORRUPT
        with pytest.raises(Unreadable):
            shared(DEFAULT_LIMITS).read(path)


@pytest.mark.parametrize("target", ["../../../etc/passwd", "/etc/passwd", "http://x.vn/s.xml"])
def test_a_slide_outside_the_package_is_never_looked_for_outside(
    tmp_path: Path, target: str
) -> None:
    slides = make_pptx(tmp_path / "b.pptx", [Slide(body=("Bài 1",))])
    part = "ppt/_rels/presentation.xml.rels"
    _rewritten(slides, part, lambda xml: re.sub('Target="slides/[^"]*"', f'Target="{target}"', xml))
    assert unreadable(slides) is UnreadableReason.CORRUPT


def test_pptx_damaged_or_protected(tmp_path: Path) -> None:
    no_slides = tmp_path / "rỗng.pptx"
    with zipfile.ZipFile(no_slides, "w") as package:
        package.writestr("ppt/slides/slide1.xml", "<p:sld/>")
    assert unreadable(no_slides) is UnreadableReason.CORRUPT
    locked = tmp_path / "khoá.pptx"  # Office keeps a password-protected .pptx in OLE
    locked.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert unreadable(locked) is UnreadableReason.ENCRYPTED


# --- Plain text -----------------------------------------------------------------------------

LINES = ["Kế hoạch bài dạy", "", "  Môn: Toán – lớp 2  ", "Rút kinh nghiệm:", "Học sinh làm tốt."]
EXPECTED = ["Kế hoạch bài dạy", "Môn: Toán – lớp 2", "Rút kinh nghiệm:", "Học sinh làm tốt."]


def cp1258(text: str) -> bytes:
    """``text`` as Windows Vietnamese stores it: base letters with their hat, breve or horn
    precomposed where cp1258 has them, tones as separate combining marks."""
    tones = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
    out = []
    for char in unicodedata.normalize("NFD", text):
        if unicodedata.combining(char) and char not in tones:  # a hat, breve or horn
            base, marks = out[-1][0], out[-1][1:]
            out[-1] = unicodedata.normalize("NFC", base + char) + marks
        elif char in tones:
            out[-1] += char
        else:
            out.append(char)
    return "".join(out).encode("cp1258")


@pytest.mark.parametrize(
    "encoded",
    [
        "\n".join(LINES).encode("utf-8"),
        "\r\n".join(LINES).encode("utf-8-sig"),
        unicodedata.normalize("NFD", "\n".join(LINES)).encode("utf-8"),
        codecs.BOM_UTF16_LE + "\r\n".join(LINES).encode("utf-16-le"),
        codecs.BOM_UTF16_BE + "\n".join(LINES).encode("utf-16-be"),
        cp1258("\r\n".join(LINES)),
    ],
    ids=["utf-8", "utf-8-bom-crlf", "utf-8-nfd", "utf-16-le", "utf-16-be", "cp1258"],
)
def test_txt_a_block_per_line_in_every_encoding(tmp_path: Path, encoded: bytes) -> None:
    path = tmp_path / "Bài 1.txt"
    path.write_bytes(encoded)
    document = read_document(path)
    assert document.format == "txt"
    assert document.blocks == tuple(Block(text) for text in EXPECTED)


@pytest.mark.parametrize("legacy", [Legacy.TCVN3, Legacy.VNI])
def test_txt_saved_from_an_old_legacy_font_editor_is_converted(
    tmp_path: Path, legacy: Legacy
) -> None:
    # The bytes the editor wrote are the font's codes: Western (cp1252) characters.
    lines = ["Bài 5", "Môn: Toán – lớp 2", "Rút kinh nghiệm sau bài dạy", "Học sinh đọc đúng."]
    path = tmp_path / "cũ.txt"
    path.write_bytes("\r\n".join(encode(line, legacy) for line in lines).encode("cp1252"))
    assert read_document(path).blocks == tuple(Block(line, legacy=legacy) for line in lines)


def test_txt_a_pasted_legacy_paragraph_among_unicode_lines_is_converted_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "dán.txt"
    pasted = encode("Học sinh đọc đúng, viết đúng chính tả.", Legacy.TCVN3)
    path.write_text(f"Rút kinh nghiệm\n{pasted}\nMôn: Toán\n", encoding="utf-8")
    assert read_document(path).blocks == (
        Block("Rút kinh nghiệm"),
        Block("Học sinh đọc đúng, viết đúng chính tả.", legacy=Legacy.TCVN3),
        Block("Môn: Toán"),
    )


def test_md_headings_are_marked_and_the_rest_is_a_line_per_block(tmp_path: Path) -> None:
    path = tmp_path / "Ghi chú.md"
    path.write_text(
        "# Kế hoạch bài dạy #\n\n  ## Rút kinh nghiệm\nHọc sinh làm **tốt**.\n#hashtag\n"
        "### Bài số #5\n",
        encoding="utf-8",
    )
    document = read_document(path)
    assert document.format == "md"
    assert document.blocks == (
        Block("Kế hoạch bài dạy", heading_level=1),
        Block("Rút kinh nghiệm", heading_level=2),
        Block("Học sinh làm **tốt**."),
        Block("#hashtag"),
        Block("Bài số #5", heading_level=3),
    )


def test_txt_too_big_is_refused_unread_and_binary_is_corrupt(tmp_path: Path) -> None:
    huge = tmp_path / "nhật ký.txt"
    with huge.open("wb") as file:
        file.truncate(2 * 1024**3)  # 2 GB (sparse: nothing is written)
    started = time.monotonic()
    assert refused(huge) is Limit.SIZE
    assert time.monotonic() - started < 0.5
    edge = tmp_path / "vừa.txt"
    edge.write_bytes(b"a" * MAX_TEXT_BYTES)
    assert texts(read_document(edge)) == ["a" * MAX_TEXT_BYTES]
    with edge.open("ab") as file:
        file.write(b"\n")
    assert refused(edge) is Limit.SIZE
    binary = tmp_path / "ảnh.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert unreadable(binary) is UnreadableReason.CORRUPT
    # A NUL after a byte-order mark is binary too (it was read into the text).
    marked = tmp_path / "dữ liệu.txt"
    marked.write_bytes(codecs.BOM_UTF16_LE + "Rút\0kinh nghiệm".encode("utf-16-le"))
    assert unreadable(marked) is UnreadableReason.CORRUPT


def test_txt_of_blank_lines_costs_little_and_too_many_lines_are_refused_unread(
    tmp_path: Path,
) -> None:
    # 8 MiB of blank lines once took the worker's whole processor-time limit (20 s).
    blank = tmp_path / "trống.txt"
    blank.write_bytes(b"\r\n" * (MAX_TEXT_BYTES // 2 - 16) + "Rút kinh nghiệm".encode())
    tight = shared(dataclasses.replace(DEFAULT_LIMITS, cpu_seconds=3))
    assert texts(tight.read(blank)) == ["Rút kinh nghiệm"]
    # More lines of text than an answer could hold: refused before a block is made.
    lines = tmp_path / "dòng.txt"
    lines.write_bytes(b"a\n" * (MAX_CELLS + 1))
    assert refused(lines) is Limit.SIZE


# --- Through the sandbox, and what plugins see -----------------------------------------------


def test_the_sandbox_reads_the_new_formats_as_the_readers_do(tmp_path: Path) -> None:
    files = [
        make_ods(tmp_path / "a.ods", [[tcvn3("Rút kinh nghiệm"), 9]]),
        make_pptx(tmp_path / "b.pptx", [Slide(title="Bài 1", body=(tcvn3("Học sinh"),))]),
        tmp_path / "c.md",
    ]
    files[2].write_text("# Tuần 12\nRút kinh nghiệm", encoding="utf-8")
    sandbox = shared(DEFAULT_LIMITS)
    for path in files:
        assert sandbox.read(path) == read_document(path)
    assert texts(sandbox.read(files[1])) == ["Bài 1", "Học sinh"]


def test_readable_suffixes_are_what_the_readers_read(tmp_path: Path) -> None:
    assert api.READABLE_SUFFIXES is READABLE_SUFFIXES
    assert {".ods", ".pptx", ".txt", ".md", ".docx", ".odt", ".pdf", ".xlsx"} <= READABLE_SUFFIXES
    assert not {".doc", ".xls", ".ppt", ".odp", ".rtf"} & READABLE_SUFFIXES
    for name in ("slides.odp", "notes.rtf", "README"):
        (tmp_path / name).write_text("Rút kinh nghiệm", encoding="utf-8")
        assert unreadable(tmp_path / name) is UnreadableReason.UNSUPPORTED


# --- Validation is not changed by the new readers --------------------------------------------


def _never_read(path: Path) -> Document:
    raise AssertionError(f"{path.name} was read for a check")


def test_validation_still_judges_slides_spreadsheets_and_text_by_their_names(
    tmp_path: Path,
) -> None:
    from plugins.validation.checks import check_record

    types = {t.code: t for t in load_types_file(shipped_types_file())}
    legacy_ods = make_ods(tmp_path / "Sổ chủ nhiệm.ods", [[tcvn3("Rút kinh nghiệm")]])
    slides = make_pptx(tmp_path / "Bài 5.pptx", [Slide(body=(tcvn3("Rút kinh nghiệm"),))])
    text = tmp_path / "Bài 5.txt"
    text.write_text("Bài 5\nkhông có phần nào", encoding="utf-8")
    cases = [
        (slides, "Kế hoạch bài dạy/Tuần 5/Bài 5.pptx", "KHBD", ["file.format-not-allowed"]),
        (text, "Kế hoạch bài dạy/Tuần 5/Bài 5.txt", "KHBD", ["file.format-not-allowed"]),
        (legacy_ods, "Sổ chủ nhiệm/Sổ chủ nhiệm.ods", "SCN", []),  # .ods allowed, not read
    ]
    for file, path, code, rules in cases:
        findings = check_record(
            file,
            path,
            types[code],
            size=file.stat().st_size,
            today=date(2026, 11, 29),
            year_start=date(2026, 9, 7),
            read=_never_read,
        )
        assert [f.rule for f in findings] == rules, path


def test_a_lesson_date_is_never_read_from_slides_or_text(tmp_path: Path) -> None:
    from inspection_factory import make_config

    from plugins.validation import hoso_record_date
    from plugins.validation.lessonplan import lesson_date
    from plugins.validation.settings import settings_of

    config = make_config(tmp_path / "HoSo", tmp_path / "state")
    sandbox = shared(settings_of(config).limits(config.plugins.timeout))
    lines = ["KẾ HOẠCH BÀI DẠY", "Môn: Toán   Lớp: 2", "Bài 5: Phép cộng", "Ngày dạy: 11/11/2026"]
    text = tmp_path / "Bài 5.txt"
    text.write_text("\n".join(lines), encoding="utf-8")
    slides = make_pptx(tmp_path / "Bài 5.pptx", [Slide(body=tuple(lines))])
    for file in (text, slides):
        # The reader would find the date: the hook does not look, as before.
        path = f"Kế hoạch bài dạy/Khác/{file.name}"
        assert lesson_date(read_document(file), path, date(2026, 9, 7)) == date(2026, 11, 11)
        before = sandbox.reads
        record = Record(path, file, None, file.stat().st_size, file.stat().st_mtime)
        assert hoso_record_date(config, record, date(2026, 9, 7)) is None
        assert sandbox.reads == before


# --- Files LibreOffice saved --------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_by_libreoffice(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A .pptx and an .ods as LibreOffice (Debian, headless) writes them, from a generated
    .pptx and .xlsx; its own profile, so that another soffice running is no matter."""
    soffice = shutil.which("soffice")
    if soffice is None:
        pytest.skip(
            "LibreOffice (soffice) is not installed: "
            "apt-get install libreoffice-calc-nogui libreoffice-impress-nogui"
        )
    folder = tmp_path_factory.mktemp("libreoffice")
    sources = {
        "pptx": make_pptx(
            folder / "Trình chiếu.pptx",
            [
                Slide(
                    title="Bài 5: Phép cộng", body=(NFD, Para((Run("Môn: "), tcvn3("Tiếng Việt"))))
                ),
                Slide(title=tcvn3("Khởi động"), table=Table((("Giáo viên", tcvn3("Học sinh")),))),
            ],
        ),
        "ods": make_xlsx(
            folder / "Sổ điểm.xlsx",
            [["Họ và tên", "Toán"], [tcvn3("Lê Thị Bình"), 7.5], [Run("Đạt", bold=True), None]],
        ),
    }
    out = folder / "out"
    saved = {}
    for target, source in sources.items():
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation={(folder / 'profile').as_uri()}",
                "--headless",
                "--convert-to",
                target,
                "--outdir",
                str(out),
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        saved[target] = out / f"{source.stem}.{target}"
    return saved


def test_pptx_saved_by_libreoffice(saved_by_libreoffice: dict[str, Path]) -> None:
    assert read_document(saved_by_libreoffice["pptx"]).blocks == (
        Block("Bài 5: Phép cộng", heading_level=1),
        Block("Rút kinh nghiệm sau bài dạy"),
        Block("Môn: Tiếng Việt", legacy=Legacy.TCVN3),
        Block("Khởi động", heading_level=1, legacy=Legacy.TCVN3),
        Block("Giáo viên", in_table=True),
        Block("Học sinh", in_table=True, legacy=Legacy.TCVN3),
    )


def test_ods_saved_by_libreoffice(saved_by_libreoffice: dict[str, Path]) -> None:
    with zipfile.ZipFile(saved_by_libreoffice["ods"]) as package:
        assert b"number-rows-repeated" in package.read("content.xml")  # its empty tail
    assert read_document(saved_by_libreoffice["ods"]).blocks == (
        Block("Họ và tên", in_table=True),
        Block("Toán", in_table=True),
        Block("Lê Thị Bình", in_table=True, legacy=Legacy.TCVN3),
        Block("7.5", in_table=True),
        Block("Đạt", bold=True, in_table=True),
    )
