"""`hoso search` as a teacher and a manager run it: real lesson plans (python-docx, some typed
in TCVN3/VNI fonts, with tables), the real CLI in a subprocess, the index in the plugin's
storage, and under `hoso run` against a real WebDAV server."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
from agents import Agent, hoso_command, hoso_env, run_hoso, stop_agent, to_toml
from click.testing import CliRunner
from conftest import Share, _folder_numbers
from docs_factory import Para, bloated_docx, lesson_plan, make_docx, make_pdf, tcvn3, vni
from servers import DavServer, wait_until

from agent import config as configmod
from agent.cli import cli
from agent.errors import HosoError
from agent.lock import InstanceLock
from plugins.search import indexer
from plugins.search.index import Changes, Writer
from plugins.search.query import parse, search_fold
from plugins.search.service import facts_of, index_name, open_index, read_text

KHBD = "Kế hoạch bài dạy"
EXACT = f"{KHBD}/Tuần 12/Toán/Bài 56 – Phép chia.docx"
LEGACY = f"{KHBD}/Tuần 12/Tiếng Việt/Bài 20.docx"
VNI_PLAN = f"{KHBD}/Tuần 13/Đạo đức/Bài 8.docx"
BARE = f"{KHBD}/Tuần 13/Toán/Bài 60.docx"
NAMED = f"{KHBD}/Tuần 15/Toán/Rút kinh nghiệm tiết dạy.docx"
GEO = f"{KHBD}/Tuần 14/Lịch sử và Địa lí/Bài 3.docx"
ART = f"{KHBD}/Tuần 3/Mĩ thuật/Bài 2.pdf"
OLD = f"{KHBD}/Tuần 12/Toán/Bài cũ.doc"
HOSTILE = f"{KHBD}/Tuần 16/Toán/Bài\x1b[31m đỏ.docx"
REFLECTED = {EXACT, LEGACY, VNI_PLAN, BARE, NAMED}


def _plan(path: Path, reflection: Para | str, rows: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    items = lesson_plan(activity_rows=rows)
    items[-1] = reflection
    return make_docx(path, items)


def _corpus(root: Path, outside: Path) -> None:
    k = root / KHBD
    _plan(root / EXACT, "Rút kinh nghiệm: học sinh cần luyện thêm phép chia.")
    _plan(root / LEGACY, Para((tcvn3("Rút kinh nghiệm: đọc còn chậm, cần luyện đọc."),)))
    _plan(root / VNI_PLAN, Para((vni("Rút kinh nghiệm: các em lễ phép."),)))
    _plan(root / BARE, "Rut kinh nghiem: hoc sinh lam tot.")
    _plan(root / NAMED, "Điều chỉnh: không có.")
    # Folders made on a Mac arrive in NFD.
    geo = root / unicodedata.normalize("NFD", GEO)
    _plan(geo, "Bản đồ Địa lý Việt Nam; học sinh tô màu.")
    (k / "Tuần 3" / "Mĩ thuật").mkdir(parents=True)
    make_pdf(root / ART, ["Mỹ thuật lớp 3: vẽ tranh phong cảnh."])
    (root / OLD).write_bytes(b"\xd0\xcf\x11\xe0 not really a Word 97 file")
    # A document's text is hostile too: C1 and bidi controls are XML-legal.
    _plan(root / HOSTILE, "Rút gọn phân số \x85\u202e lần hai.")
    # A link to a folder outside the records: never followed, never shown.
    outside.mkdir()
    _plan(outside / "Bí mật.docx", "Rút kinh nghiệm bí mật của trường khác.")
    (k / "Tuần 12" / "Liên kết").symlink_to(outside, target_is_directory=True)
    (k / "Tuần 12" / "Toán" / "lối tắt.docx").symlink_to(outside / "Bí mật.docx")
    # A name that is not UTF-8 (copied from an old Windows share) cannot be shown faithfully.
    with open(os.fsencode(k / "Tuần 12" / "Toán") + b"/Gi\xe1o \xe1n c\xfb.docx", "wb") as f:
        f.write(b"giao an cu")
    # hoso's own files are no records.
    (root / ".hoso-root").write_text("rut kinh nghiem bi mat")
    (root / "~$i 56.docx").write_text("rut kinh nghiem bi mat")


@dataclass(frozen=True)
class Said:
    returncode: int
    stdout: str
    stderr: str


class Teacher:
    def __init__(self, home: Path, **raw: object) -> None:
        self.home = home
        self.root = home / "HoSo"
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path = home / "agent.toml"
        self.raw = {
            "root": str(self.root),
            "state_dir": str(home / "state"),
            "language": "en",
            "remote": {"url": "http://127.0.0.1:9/"},
            "plugins": {"desktop": {"enabled": False}},
            **raw,
        }
        configmod.write_private(self.config_path, to_toml(self.raw))
        self.index = home / "state" / "plugins" / "search.sqlite3"

    def search(self, *args: str) -> Said:
        """`hoso search` in this process (the document workers stay warm between calls)."""
        done = CliRunner().invoke(cli, ["--config", str(self.config_path), "search", *args])
        if isinstance(done.exception, HosoError):  # what agent.cli.main prints
            return Said(int(done.exception.exit_code), done.stdout, str(done.exception))
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            raise done.exception
        return Said(done.exit_code, done.stdout, done.stderr)

    def process(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`hoso search` as the teacher runs it."""
        return run_hoso("--config", str(self.config_path), "search", *args)

    def found(self, *args: str) -> dict:
        done = self.search(*args, "--json")
        assert done.returncode in (0, 1), done.stderr
        answer = json.loads(done.stdout)
        assert (done.returncode == 0) == bool(answer["results"])
        return answer

    def paths(self, *args: str) -> list[str]:
        return [r["path"] for r in self.found(*args, "--limit", "100")["results"]]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Teacher:
    home = tmp_path_factory.mktemp("lan")
    teacher = Teacher(home)
    _corpus(teacher.root, home / "Ngoài")
    return teacher


# --- matching Vietnamese ---------------------------------------------------------------------


def test_accents_case_nfd_and_legacy_fonts_find_the_same_plans(teacher: Teacher) -> None:
    typed = "Rút kinh nghiệm"
    queries = [
        "rut kinh nghiem",
        typed,
        typed.upper(),
        unicodedata.normalize("NFD", typed),
        "RUT KINH NGHIEM",
    ]
    answers = [set(teacher.paths(q)) for q in queries]
    assert answers[0] == REFLECTED  # TCVN3 and VNI runs found by their Unicode spelling
    assert all(a == answers[0] for a in answers), answers
    # Nothing of the linked folder outside, nor hoso's own files.
    assert teacher.search("bi mat").returncode == 1


def test_spelling_pairs_and_spacing_match_alike(teacher: Teacher) -> None:
    assert teacher.paths("dia ly") == teacher.paths("Địa lí") == [GEO]  # shown NFC
    assert teacher.paths("mỹ thuật") == teacher.paths("Mĩ thuật") == [ART]
    assert set(teacher.paths("tuan12")) >= {EXACT, LEGACY, OLD}
    assert set(teacher.paths("tuần12", "rut")) == {EXACT, LEGACY}


def test_phrases_prefixes_and_exclusions(teacher: Teacher) -> None:
    # A phrase in the activities table of every plan.
    assert len(teacher.paths('"thao luan nhom doi"')) == 7
    # Words in another order are no phrase.
    assert teacher.paths('"nghiem kinh rut"') == []
    assert set(teacher.paths("nghi*", "-bai")) == set()
    assert set(teacher.paths("nghi*", "tuan")) == REFLECTED
    assert set(teacher.paths("rut kinh nghiem", "-phep", "-nhap")) == REFLECTED - {EXACT, VNI_PLAN}
    assert set(teacher.paths("rut kinh", '-"kinh nghiem"')) == set()
    # FTS syntax typed by the teacher is only words to look for.
    assert teacher.search("NEAR(rut", "OR", "x:y").returncode == 1


def test_filters(teacher: Teacher) -> None:
    assert set(teacher.paths("rut kinh nghiem", "--week", "12")) == {EXACT, LEGACY}
    assert set(teacher.paths("rut kinh nghiem", "--weeks", "13-15")) == {VNI_PLAN, BARE, NAMED}
    assert teacher.paths("rut kinh nghiem", "--subject", "toan", "--week", "13") == [BARE]
    assert teacher.paths("rut kinh nghiem", "--subject", "Đạo Đức") == [VNI_PLAN]
    assert set(teacher.paths("rut kinh nghiem", "--type", "khbd")) == REFLECTED
    assert teacher.paths("phong canh", "--type", "KHBD") == [ART]
    answer = teacher.found("rut kinh nghiem", "--limit", "2")
    assert answer["total"] == 5 and len(answer["results"]) == 2
    answer = teacher.found("rut kinh nghiem", "--limit", str(10**20))  # "all"; past SQLite's
    assert answer["total"] == 5 and len(answer["results"]) == 5


def test_ranking_exact_accents_first_and_names_above_text(teacher: Teacher) -> None:
    accented = teacher.paths("Rút kinh nghiệm")
    # Those holding the words with their accents first (the name's too), the bare one last.
    assert set(accented[:4]) == {EXACT, LEGACY, VNI_PLAN, NAMED}
    assert accented[-1] == BARE
    # Without accents, the plan named so comes before those that only say it inside.
    assert teacher.paths("rut kinh nghiem")[0] == NAMED


def test_json_shape_and_snippet(teacher: Teacher) -> None:
    done = teacher.process("Rút kinh nghiệm", "--week", "12", "--subject", "toán", "--json")
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["total"] == 1
    (result,) = answer["results"]
    assert set(result) >= {"path", "type", "week", "subject", "modified", "snippet", "score"}
    assert result["path"] == EXACT and result["type"] == "KHBD"
    assert result["week"] == 12 and result["subject"] == "Toán"
    assert result["modified"][:4].isdigit() and "T" in result["modified"]
    assert "«Rút kinh nghiệm»: học sinh cần luyện thêm phép chia" in result["snippet"]
    assert isinstance(result["score"], float)
    # The legacy-font plan's snippet is in Unicode.
    legacy = teacher.found("luyen doc")["results"][0]
    assert legacy["path"] == LEGACY and "«luyện đọc»" in legacy["snippet"]


def test_text_output_is_printable(teacher: Teacher) -> None:
    done = teacher.search("rut gon")
    assert done.returncode == 0
    assert not {"\x1b", "\x85", "\u202e"} & set(done.stdout)
    assert "Bài\\x1b[31m đỏ.docx" in done.stdout
    assert "[Rút gọn] phân số \\u202e lần hai" in done.stdout  # U+0085 is a space
    # An unreadable file is found by its name; one whose name is not UTF-8 is left out.
    assert teacher.paths("bai cu") == [OLD]
    assert teacher.search("an cu").returncode == 1


def test_on_a_terminal_the_matches_are_marked_as_text(teacher: Teacher) -> None:
    terminal, far_end = os.openpty()
    proc = subprocess.Popen(
        hoso_command("--config", str(teacher.config_path), "search", "rut gon"),
        env=hoso_env(),
        stdin=far_end,
        stdout=far_end,
        stderr=far_end,
    )
    os.close(far_end)
    shown = b""
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        shown += chunk
    os.close(terminal)
    assert proc.wait(timeout=60) == 0
    text = shown.decode("utf-8")
    # Bold escapes would reach the screen as "\x1b[1m" text (stdout escapes them all).
    assert "[Rút gọn] phân số" in text and "\\x1b[1m" not in text, text


def test_bad_queries_exit_2_and_change_nothing(teacher: Teacher) -> None:
    teacher.found("rut")  # the index is there
    before = teacher.index.stat().st_mtime_ns, teacher.index.read_bytes()
    for args, says in [
        (["--", "-nhap"], "only says what to leave out"),
        (["!!! ..."], "no letters or digits"),
        (['""'], "no letters or digits"),
        (["rut", "--week", "40"], "School weeks go from 1 to 35"),
        (["rut", "--weeks", "12-3"], "School weeks go from 1 to 35"),
        (["rut", "--weeks", "twelve"], "--weeks takes two week numbers"),
        (["rut", "--week", "3", "--weeks", "1-4"], "either --week or --weeks"),
        (["rut", "--type", "ABC"], "ABC is no record type"),
        (["rut", "--teacher-folder", "Lan"], "give the copy with --folder"),
        (["rut", "--limit", "0"], "--limit takes"),
        ([f"w{n}" for n in range(33)], "more than 32 different words"),
        (["rut", "--wek", "12"], "--wek is no option of hoso search"),
    ]:
        done = teacher.search(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert says in done.stderr and "Traceback" not in done.stderr, done.stderr
    # As the teacher sees it: one line, exit 2.
    done = teacher.process("--", "-nhap")
    assert done.returncode == 2 and done.stderr.startswith("Error: The search") and not done.stdout
    assert (teacher.index.stat().st_mtime_ns, teacher.index.read_bytes()) == before


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Địa lí", "Địa lý"),
        ("Mĩ thuật", "Mỹ thuật"),
        ("Kĩ thuật", "Kỹ thuật"),
        ("hoà nhập", "hòa nhập"),
        ("thuỷ", "thủy"),
        ("Đồ dùng", "do dung"),
        ("RÚT KINH NGHIỆM", unicodedata.normalize("NFD", "rút kinh nghiệm")),
        ("Tuần12", "tuan_12"),
        ("Bài 3a", "bai 3-a"),
    ],
)
def test_the_spelling_pairs_of_domain_md_fold_alike(one: str, other: str) -> None:
    assert search_fold(one) == search_fold(other)


def test_a_repeated_word_is_looked_for_once(teacher: Teacher) -> None:
    # Each word costs a pass over each hit's text: 10,000 of them took minutes.
    assert parse("hoc " * 10_000).wanted == parse("hoc").wanted
    done = teacher.search(*["rut"] * 10_000, "--limit", "100")
    assert done.returncode == 0 and done.stdout == teacher.search("rut", "--limit", "100").stdout
    assert "6 result(s)." in done.stdout
    # A passage in quotes is one thing to look for, however long.
    assert teacher.search('"' + " ".join(f"w{n}" for n in range(40)) + '"').returncode == 1


def test_query_syntax_never_reaches_fts() -> None:
    query = parse('x" OR body_text:"y NEAR(a b) -"z*"')
    assert query.match() == (
        '{name_folded body_folded}: ("x" AND "or" AND "body text y" AND "near a" AND "b" NOT "z")'
    )


def test_a_week_named_in_the_query_ranks_first(tmp_path: Path) -> None:
    teacher = Teacher(tmp_path)
    # Week 1's Bài 12 holds "tuan" and "12" as well, and its path sorts first.
    week12, week1 = f"{KHBD}/Tuần 12/Toán/Bài 3.docx", f"{KHBD}/Tuần 1/Toán/Bài 12.docx"
    for path in (week12, week1):
        _plan(teacher.root / path, "Rút kinh nghiệm: phép chia.")
    assert teacher.paths("rut kinh nghiem tuan 12") == [week12, week1]
    assert teacher.paths("tuan 12", "rút") == [week12, week1]
    assert teacher.paths("Tuần12", "rút") == [week12]  # one word: "tuan 12" as a phrase
    # A week folder written "Tuần 05" or "T07" is found by the week as a teacher types it.
    padded, short = f"{KHBD}/Tuần 05/Toán/Bài 1.docx", f"{KHBD}/T07/Toán/Bài 1.docx"
    for path in (padded, short):
        (teacher.root / path).parent.mkdir(parents=True)
        make_docx(teacher.root / path, ["Rút kinh nghiệm: phép chia."])
    # (The plans above hold "Tuần 3" and "Bài 5" in their text: they match after it.)
    assert teacher.paths("rut kinh nghiem tuan 5")[0] == padded
    assert teacher.paths("Rút kinh nghiệm tuần 5")[0] == padded
    assert teacher.paths("tuan 7", "phep")[0] == short
    # No week: what looks like one is only words ("²" is a digit int() refuses).
    assert teacher.paths("tuan ²") == []
    assert teacher.paths("tuan", "1" * 5000) == []


def _pdf_mapping_to(path: Path, unicode_hex: bytes) -> None:
    """A one-line PDF ("BAB kinh") whose font's ToUnicode map gives ``A`` as ``unicode_hex``."""
    cmap = (
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def "
        b"1 begincodespacerange <00> <FF> endcodespacerange 2 beginbfchar <41> <%s> "
        b"<42> <0062> endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"
        % unicode_hex
    )
    content = b"BT /F1 12 Tf 72 700 Td (BAB kinh) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(cmap), cmap),
    ]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(out)


def test_while_an_agent_runs_a_deep_record_is_not_taken_for_gone(tmp_path: Path) -> None:
    teacher = Teacher(tmp_path)
    deep = "/".join(["a"] * 700) + "/Ghi chú.txt"  # 700 folders: past Python's recursion limit
    (teacher.root / deep).parent.mkdir(parents=True)
    (teacher.root / deep).write_text("Ghi chú sâu", encoding="utf-8")
    assert teacher.paths("ghi chu sau") == [deep]  # indexed, no agent
    # As while `hoso run` holds the lock: the index is only read, each hit's file looked up.
    with InstanceLock(teacher.home / "state"):
        assert teacher.paths("ghi chu sau") == [deep]
        (teacher.root / deep).unlink()
        assert teacher.paths("ghi chu sau") == []


def test_a_pdf_that_maps_a_glyph_to_a_lone_surrogate_is_indexed(tmp_path: Path) -> None:
    teacher = Teacher(tmp_path)
    (teacher.root / KHBD).mkdir()
    _pdf_mapping_to(teacher.root / KHBD / "Bài hỏng.pdf", b"D800")  # no character: SQLite refused
    _plan(teacher.root / EXACT, "Rút kinh nghiệm: phép chia.")
    done = teacher.process("kinh", "--json")
    assert done.returncode == 0, done.stderr
    found = {r["path"]: r["snippet"] for r in json.loads(done.stdout)["results"]}
    assert found[f"{KHBD}/Bài hỏng.pdf"] == "b\ufffdb «kinh»"
    assert EXACT in found


# --- an index that follows the folder --------------------------------------------------------


@pytest.fixture()
def small(tmp_path: Path) -> Teacher:
    teacher = Teacher(tmp_path)
    _plan(teacher.root / EXACT, "Rút kinh nghiệm: phép chia.")
    _plan(teacher.root / BARE, "Rút kinh nghiệm: phép nhân.")
    return teacher


def test_moved_and_deleted_records_leave_no_stale_hit(small: Teacher) -> None:
    assert set(small.paths("phep")) == {EXACT, BARE}
    assert small.paths('"phep nhan"') == [BARE]
    moved = f"{KHBD}/Tuần 20/Toán/Bài 56.docx"
    (small.root / moved).parent.mkdir(parents=True)
    os.rename(small.root / EXACT, small.root / moved)
    (small.root / BARE).unlink()
    assert small.paths("phep") == [moved]
    assert small.found("phep")["results"][0]["week"] == 20
    assert small.search('"phep nhan"').returncode == 1


def test_a_records_folder_unplugged_keeps_the_index(small: Teacher) -> None:
    assert set(small.paths("phep")) == {EXACT, BARE}
    small.root.rename(small.home / "rút ra")  # a USB drive unplugged
    done = small.search("phep")
    assert done.returncode == 4 and "is missing or not mounted" in done.stderr, done
    with sqlite3.connect(small.index) as db:
        assert db.execute("SELECT count(*) FROM docs").fetchone()[0] == 2
    # The agent's indexer refreshes as well (after each pass, every hour): it keeps them too.
    config = configmod.load(small.config_path)
    with open_index(config, None) as store:
        assert Writer(store, facts_of(config, None), read_text).refresh() == Changes()
    with sqlite3.connect(small.index) as db:
        assert db.execute("SELECT count(*) FROM docs").fetchone()[0] == 2
    (small.home / "rút ra").rename(small.root)
    assert set(small.paths("phep")) == {EXACT, BARE}


def test_the_agents_indexer_outlives_an_unexpected_error(
    small: Teacher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug met while indexing (one kind of file, one odd date) is logged and tried again:
    the thread is the index's only keeper for the agent's whole run."""
    monkeypatch.setattr(indexer, "RETRY_SECONDS", 0.05)
    refresh = Writer.refresh
    tries: list[int] = []

    def broken_once(writer: Writer, *args: object, **kwargs: object) -> Changes:
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("a bug of the kind the reviewers found")
        return refresh(writer, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Writer, "refresh", broken_once)
    config = configmod.load(small.config_path)
    indexer.start(config)  # queues a refresh of the whole folder: the first one fails

    def indexed() -> int:
        with sqlite3.connect(small.index) as db:
            return int(db.execute("SELECT count(*) FROM docs").fetchone()[0])

    wait_until(lambda: small.index.exists() and indexed() == 2, 30, "the retried refresh")
    assert len(tries) >= 2


def test_a_record_that_cannot_be_opened_now_is_read_again_later(small: Teacher) -> None:
    """A file Word holds locked, or one without read permission, is found by its name, and
    its text is read at the next refresh even though the file did not change (chmod leaves
    its modification time alone)."""
    config = configmod.load(small.config_path)
    refused: list[Path] = []

    def locked_once(file: Path) -> str | None:
        if file.name == Path(EXACT).name and not refused:
            refused.append(file)
            raise PermissionError(13, "Permission denied", str(file))
        return read_text(file)

    facts = facts_of(config, None)
    with open_index(config, None) as store:
        assert Writer(store, facts, locked_once).refresh().read == 2
        assert refused
        assert Writer(store, facts, read_text).refresh().read == 1  # it alone, unchanged on disk
    assert small.paths('"Rút kinh nghiệm: phép chia"') == [EXACT]  # its text
    with pytest.raises(OSError):  # what the sandbox says of a file it cannot open
        read_text(small.root / "Tuần 1" / "đã xoá.docx")


def test_a_record_dated_past_2262_is_indexed(small: Teacher) -> None:
    # Its time in nanoseconds is past SQLite's integers (a clock far off, a bogus copy date):
    # every search failed, and the agent's indexer thread died on it.
    far = 15_032_385_535 * 10**9  # the year 2446, as far as ext4 goes
    os.utime(small.root / EXACT, ns=(far, far))
    answer = small.found("phep", "--limit", "5")
    assert {r["path"] for r in answer["results"]} == {EXACT, BARE}
    dated = {r["path"]: r["modified"] for r in answer["results"]}
    assert dated[EXACT].startswith("2262-04-1"), dated  # as late as the index can say
    assert {r["path"] for r in small.found("phep")["results"]} == {EXACT, BARE}  # unchanged


def test_reindex_replaces_a_damaged_index(small: Teacher) -> None:
    assert set(small.paths("phep")) == {EXACT, BARE}
    with sqlite3.connect(small.index) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(small.index, "r+b") as index:  # a bad sector, a copy cut short
        index.seek(4096)
        index.write(b"\xff" * 16384)
    done = small.search("phep")
    assert done.returncode == 1 and "rebuild it: hoso search --reindex" in done.stderr, done
    assert set(small.paths("phep", "--reindex")) == {EXACT, BARE}
    assert (small.index.parent / "search.sqlite3.damaged").is_file()  # set aside, not deleted
    assert set(small.paths("phep")) == {EXACT, BARE}


def test_reindex_reads_everything_again(small: Teacher) -> None:
    assert small.paths('"phep nhan"') == [BARE]
    # A damaged index: the row's text lost, its stamp kept; a refresh sees nothing changed.
    with sqlite3.connect(small.index) as db:
        db.execute("UPDATE docs_fts SET body_folded = '', body_text = ''")
    assert small.search('"phep nhan"').returncode == 1
    assert small.paths('"phep nhan"', "--reindex") == [BARE]
    assert set(small.paths("phep")) == {EXACT, BARE}


def test_killed_mid_index_the_next_search_is_whole(tmp_path: Path) -> None:
    teacher = Teacher(tmp_path)
    # More files than one batch of rows (64), the last one long (about a second to read):
    # the first batch is committed before it, the rest after, and the kill falls between.
    paths = sorted(f"{KHBD}/Tuần {w % 35 + 1}/Toán/Bài {w}.docx" for w in range(70))
    for path in paths[:-1]:
        (teacher.root / path).parent.mkdir(parents=True, exist_ok=True)
        make_docx(teacher.root / path, [f"Rút kinh nghiệm bài {path.split()[-1]}"])
    (teacher.root / paths[-1]).parent.mkdir(parents=True, exist_ok=True)
    bloated_docx(teacher.root / paths[-1], 3 * 1024 * 1024, "Rút kinh nghiệm dài. " * 8)
    proc = subprocess.Popen(
        hoso_command("--config", str(teacher.config_path), "search", "rut"),
        env=hoso_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def some_indexed() -> bool:
        try:
            with sqlite3.connect(teacher.index, timeout=5) as db:
                return db.execute("SELECT count(*) FROM docs").fetchone()[0] >= 3
        except sqlite3.Error:
            return False

    wait_until(some_indexed, 60, "the first files indexed")
    assert proc.poll() is None  # still at work
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(teacher.index) as db:
        docs = db.execute("SELECT count(*) FROM docs").fetchone()[0]
        rows = db.execute("SELECT count(*) FROM docs_fts").fetchone()[0]
        db.execute("INSERT INTO docs_fts(docs_fts) VALUES ('integrity-check')")
    assert docs == rows and docs < len(paths)
    assert set(teacher.paths("rut kinh nghiem")) == set(paths)


# --- a manager's copy of the school share ----------------------------------------------------


def test_a_managers_copy_by_teacher_folder(tmp_path: Path) -> None:
    manager = Teacher(tmp_path / "hieu-truong")
    copy = tmp_path / "Trường" / "Giáo viên"
    _plan(copy / "Nguyễn Thị Lan" / EXACT, "Rút kinh nghiệm: phép chia.")
    _plan(copy / "Trần Văn Minh" / BARE, "Rút kinh nghiệm: phép nhân.")
    _plan(copy / unicodedata.normalize("NFD", "Lê Thị Hoà") / GEO, "Rút kinh nghiệm: bản đồ.")
    (copy / "Trần Văn Minh" / "ngoài").symlink_to(manager.root)  # nothing of it shows
    _plan(manager.root / "riêng.docx", "Rút kinh nghiệm: của riêng.")
    answer = manager.found("rut kinh nghiem", "--folder", str(copy), "--limit", "10")
    found = {r["path"]: r for r in answer["results"]}
    assert set(found) == {f"Nguyễn Thị Lan/{EXACT}", f"Trần Văn Minh/{BARE}", f"Lê Thị Hoà/{GEO}"}
    assert found[f"Nguyễn Thị Lan/{EXACT}"]["teacher"] == "Nguyễn Thị Lan"
    assert found[f"Nguyễn Thị Lan/{EXACT}"]["type"] == "KHBD"  # classified inside the folder
    assert found[f"Trần Văn Minh/{BARE}"]["subject"] == "Toán"
    by = manager.paths("rut", "--folder", str(copy), "--teacher-folder", "le thi hoa")
    assert by == [f"Lê Thị Hoà/{GEO}"]
    # Its own index, not the records folder's.
    assert (
        tmp_path / "hieu-truong" / "state" / "plugins" / f"{index_name(copy.resolve())}.sqlite3"
    ).is_file()
    assert manager.paths("rieng") == ["riêng.docx"]


def test_a_manager_with_no_records_folder_searches_a_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    copy = tmp_path / "Trường"
    _plan(copy / "Nguyễn Thị Lan" / EXACT, "Rút kinh nghiệm: phép chia.")
    args = ["--config", str(tmp_path / "none.toml"), "search", "phep chia", "--json"]
    done = CliRunner().invoke(cli, [*args, "--folder", str(copy)])
    assert done.exit_code == 0, done.output
    assert [r["path"] for r in json.loads(done.stdout)["results"]] == [f"Nguyễn Thị Lan/{EXACT}"]
    assert list((tmp_path / "state" / "hoso" / "plugins").glob("search_*.sqlite3"))
    # Without --folder a config is needed: one clear message.
    done = CliRunner().invoke(cli, args)
    assert isinstance(done.exception, HosoError) and int(done.exception.exit_code) == 2


# --- under `hoso run` --------------------------------------------------------------------------


@pytest.fixture()
def dav_share(wsgidav_server: DavServer, request: pytest.FixtureRequest) -> Share:
    name = f"t{next(_folder_numbers):04d}-{request.node.originalname}"[:60]
    status, _ = wsgidav_server.request("MKCOL", name + "/")
    assert status == 201
    return Share(
        server=wsgidav_server,
        url=wsgidav_server.url,
        remote_dir=name,
        user=wsgidav_server.user,
        password=wsgidav_server.password,
        path=wsgidav_server.data_dir / name,
    )


def _indexed(index: Path, path: str, word: str) -> bool:
    try:
        with sqlite3.connect(index, timeout=1) as db:
            sql = (
                "SELECT count(*) FROM docs_fts JOIN docs d ON d.id = docs_fts.rowid "
                "WHERE docs_fts MATCH ? AND d.path = ?"
            )
            return db.execute(sql, [f'body_folded: "{word}"', path]).fetchone()[0] == 1
    except sqlite3.Error:
        return False


def test_a_record_changed_under_hoso_run_is_found_within_2_seconds(
    tmp_path: Path, dav_share: Share
) -> None:
    agent = Agent(tmp_path, dav_share, plugins={"desktop": {"enabled": False}})
    _plan(agent.root / EXACT, "Rút kinh nghiệm: phép chia.")
    _plan(agent.root / unicodedata.normalize("NFD", GEO), "Bản đồ Địa lý Việt Nam.")  # a Mac's
    index = agent.state_dir / "plugins" / "search.sqlite3"
    proc = agent.popen("run")
    try:
        wait_until(lambda: _indexed(index, EXACT, "chia"), 60, "the first pass indexed")
        wait_until(lambda: _indexed(index, GEO, "ban do"), 30, "the NFD-named record indexed")
        # The check that hides gone files finds it in its NFD spelling.
        done = agent.cli("search", "dia ly", "--json")
        assert [r["path"] for r in json.loads(done.stdout)["results"]] == [GEO], done.stderr
        _plan(agent.root / BARE, "Rút kinh nghiệm: phép nhân đôi.")
        written = time.monotonic()
        wait_until(lambda: _indexed(index, BARE, "doi"), 30, "the new record indexed")
        took = time.monotonic() - written
        assert took < 2.0, took  # settle_seconds is 0: settled once the watcher saw it
        # A search while the agent runs reads the agent's index, and drops a gone file.
        (agent.root / EXACT).unlink()
        done = agent.cli("search", "rut kinh nghiem", "--json")
        assert done.returncode == 0, done.stderr
        (result,) = json.loads(done.stdout)["results"]
        assert result["path"] == BARE and result["type"] == "KHBD"  # as the validator sees it
        # A rebuild beside the agent's thread: one writer at a time, nothing lost or doubled.
        done = agent.cli("search", "rut kinh nghiem", "--reindex", "--json")
        assert done.returncode == 0, done.stderr
        assert [r["path"] for r in json.loads(done.stdout)["results"]] == [BARE]
        with sqlite3.connect(index) as db:
            assert sorted(db.execute("SELECT path FROM docs")) == [(BARE,), (GEO,)]
    finally:
        _out, err = stop_agent(proc, timeout=30)
    assert proc.returncode == 0, err


def test_a_one_shot_sync_leaves_the_index_to_the_next_search(
    tmp_path: Path, dav_share: Share
) -> None:
    agent = Agent(tmp_path, dav_share, plugins={"desktop": {"enabled": False}})
    _plan(agent.root / EXACT, "Rút kinh nghiệm: phép chia.")
    with agent.syncer(plugins=True) as syncer:
        report = syncer.run_pass().report
    assert report.uploaded == [EXACT]
    # The hooks ran (the record settled, the pass ended) but no indexer started here.
    assert not (agent.state_dir / "plugins" / "search.sqlite3").exists()
    done = agent.cli("search", "phep chia", "--json")
    assert [r["path"] for r in json.loads(done.stdout)["results"]] == [EXACT]
