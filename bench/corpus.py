"""A deterministic, realistic records folder for benchmarks, and the edits a teacher makes to it.

The tree looks like a Vietnamese primary teacher's year: ``Tuần 1…35/<Môn>/Bài N - <tên>.<ext>``
(lesson plans, slides, worksheets, score sheets), plus ``Sổ chủ nhiệm`` (homeroom book) and
``Sổ ghi chép SHCM`` (minutes of the professional-group meetings).

Invariants: the same ``(files, seed, max_bytes)`` always gives the same paths and the same bytes;
every name is NFC; contents are incompressible (office files are zip archives, PDFs are mostly
compressed streams), so no transport compression can flatter a tool; about 1 % of the files are
2–10 MB PDFs (scans), the rest 20–300 KB, about 120 KB per file on average.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `agent` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.errors import UsageError  # noqa: E402
from agent.i18n import _  # noqa: E402

WEEKS = 35
KB = 1024
MB = 1024 * KB

# Lesson titles per subject (Chương trình GDPT 2018, lớp 1–5); a title repeats across the year
# with a growing lesson number, as in real plans.
SUBJECTS: dict[str, tuple[str, ...]] = {
    "Tiếng Việt": (
        "Đọc Mùa xuân em đi trồng cây", "Luyện từ và câu Từ chỉ sự vật", "Viết đoạn văn tả đồ vật",
        "Đọc Cây bàng", "Kể chuyện Sự tích hoa cúc trắng",
        "Chính tả Nghe – viết Ông Mạnh thắng Thần Gió",
    ),
    "Toán": (
        "Phép cộng trong phạm vi 10", "Số có ba chữ số", "Phép nhân", "Bảng chia 5",
        "Hình tứ giác", "Luyện tập chung", "Đo độ dài Đề-xi-mét",
    ),
    "Tự nhiên và Xã hội": (
        "Gia đình em", "Trường học của em", "Thực vật quanh em", "Giữ vệ sinh cơ thể",
    ),
    "Đạo đức": ("Kính trọng thầy cô", "Quý trọng thời gian", "Nhận lỗi và sửa lỗi"),
    "Hoạt động trải nghiệm": (
        "Sinh hoạt dưới cờ", "Sinh hoạt lớp – Tổng kết tuần", "Em yêu trường em",
    ),
    "Tiếng Anh": ("Unit 1 – Hello", "Unit 5 – My hobbies", "Unit 9 – Colours"),
}

# Every lesson has a plan (.docx); some also have slides, a worksheet and a score sheet.
_EXTRAS = (".pptx", ".pdf", ".xlsx")
# Leading bytes of the real formats, so type sniffing sees what it would in a real folder.
_ZIP = b"PK\x03\x04"
_MAGIC = {".docx": _ZIP, ".pptx": _ZIP, ".xlsx": _ZIP, ".pdf": b"%PDF-1.7\n"}

HOMEROOM = "Sổ chủ nhiệm"
HOMEROOM_DOCS = (
    "Kế hoạch chủ nhiệm.docx", "Danh sách học sinh.xlsx", "Theo dõi chuyên cần.xlsx",
    "Nhận xét học sinh.docx", "Họp phụ huynh – Biên bản.docx", "Sơ yếu lí lịch học sinh.pdf",
)
MONTHS = ("Tháng 9", "Tháng 10", "Tháng 11", "Tháng 12", "Tháng 1", "Tháng 2", "Tháng 3",
          "Tháng 4", "Tháng 5")
SHCM = "Sổ ghi chép SHCM"


@dataclass(frozen=True)
class CorpusFile:
    """One file of the corpus: its path relative to the root (NFC, ``/``) and its size."""

    path: str
    size: int


@dataclass(frozen=True)
class Mutation:
    """What :func:`mutate` did to a tree; paths relative to the root."""

    modified: tuple[str, ...]
    added: tuple[str, ...]
    deleted: tuple[str, ...]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def plan(files: int = 2000, seed: int = 1, max_bytes: int | None = None) -> tuple[CorpusFile, ...]:
    """The corpus's paths and sizes, without writing anything."""
    rng = random.Random(seed)
    paths = _paths(files, rng)
    pdfs = [i for i, p in enumerate(paths) if p.endswith(".pdf")]
    scans = set(rng.sample(pdfs, min(len(pdfs), files // 100)))
    sizes = [_size(rng, big=i in scans) for i in range(len(paths))]
    if max_bytes is not None:
        sizes = [min(size, max_bytes) for size in sizes]
    return tuple(CorpusFile(p, s) for p, s in zip(paths, sizes))


def generate(out: Path, files: int = 2000, seed: int = 1,
             max_bytes: int | None = None) -> tuple[CorpusFile, ...]:
    """Write the corpus under ``out`` (which must be empty or absent) and return its plan."""
    if out.exists() and any(out.iterdir()):
        raise UsageError(_("{path} is not empty; the corpus goes into a fresh folder.")
                         .format(path=out))
    corpus = plan(files, seed, max_bytes)
    for item in corpus:
        _write(out / item.path, content(seed, item.path, item.size))
    return corpus


def content(seed: int, path: str, size: int) -> bytes:
    """The bytes of one file: the format's magic, then seeded random (incompressible) bytes."""
    magic = _MAGIC.get(os.path.splitext(path)[1], b"")[:size]
    # A str seed is hashed with SHA-512 by random.Random, so it is stable across processes.
    return magic + random.Random(f"{seed}:{path}:{size}").randbytes(size - len(magic))


def mutate(root: Path, round_no: int, seed: int = 1, count: int = 10) -> Mutation:
    """A teacher's working session: ``count`` files edited, ``count`` added, ``count`` deleted.

    Deterministic for a given tree, seed and round, so every tool sees the same changes. Edited
    and deleted files are chosen among files under 1 MB (lesson plans, not scans), never among
    dot files. Every write goes through a new inode (temp file + rename), so trees hard-linked
    from one corpus never see each other's edits.
    """
    rng = random.Random(f"mutate:{seed}:{round_no}")
    existing = sorted(rel for rel in records(root) if (root / rel).stat().st_size < MB)
    chosen = rng.sample(existing, 2 * count)
    modified, deleted = tuple(chosen[:count]), tuple(chosen[count:])
    for path in modified:
        size = max(KB, (root / path).stat().st_size + rng.randint(-4 * KB, 16 * KB))
        _write(root / path, content(seed + 1000 * round_no, path, size))
    for path in deleted:
        (root / path).unlink()
    added = tuple(_added_paths(rng, round_no, count))
    for path in added:
        _write(root / path, content(seed, path, _size(rng, big=False)))
    return Mutation(modified=modified, added=added, deleted=deleted)


def records(root: Path) -> list[str]:
    """The files under ``root``, relative; dot files are the sync tools' markers, not records."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if path.is_file() and not any(part.startswith(".") for part in rel.parts):
            found.append(rel.as_posix())
    return found


def _paths(files: int, rng: random.Random) -> list[str]:
    homeroom = max(1, files * 3 // 100)
    shcm = max(1, files * 2 // 100)
    lessons = max(0, files - homeroom - shcm)
    paths = [_homeroom_path(i) for i in range(homeroom)]
    paths += [f"{SHCM}/Tuần {1 + i * WEEKS // shcm} - Biên bản sinh hoạt chuyên môn số {i + 1}.docx"
              for i in range(shcm)]
    paths += _lesson_paths(lessons, rng)
    return [nfc(p) for p in paths]


def _homeroom_path(i: int) -> str:
    month = MONTHS[i % len(MONTHS)]
    doc = HOMEROOM_DOCS[(i // len(MONTHS)) % len(HOMEROOM_DOCS)]
    copy = i // (len(MONTHS) * len(HOMEROOM_DOCS))
    suffix = f" (lần {copy + 1})" if copy else ""
    stem, ext = os.path.splitext(doc)
    return f"{HOMEROOM}/{month} - {stem}{suffix}{ext}"


def _lesson_paths(count: int, rng: random.Random) -> list[str]:
    """``count`` lesson files spread evenly over the weeks, subjects taken in turn."""
    subjects = list(SUBJECTS)
    lesson_no = dict.fromkeys(subjects, 0)
    paths: list[str] = []
    for week in range(1, WEEKS + 1):
        quota = count * week // WEEKS - count * (week - 1) // WEEKS
        turn = week
        while quota > 0:
            subject = subjects[turn % len(subjects)]
            turn += 1
            lesson_no[subject] += 1
            n = lesson_no[subject]
            title = SUBJECTS[subject][(n - 1) % len(SUBJECTS[subject])]
            extras = [ext for ext in _EXTRAS if rng.random() < 0.45]
            for ext in [".docx", *extras][:quota]:
                paths.append(f"Tuần {week}/{subject}/Bài {n} - {title}{ext}")
                quota -= 1
    return paths


def _added_paths(rng: random.Random, round_no: int, count: int) -> list[str]:
    subjects = list(SUBJECTS)
    paths = []
    for i in range(count):
        week = rng.randint(1, WEEKS)
        subject = subjects[rng.randrange(len(subjects))]
        title = rng.choice(SUBJECTS[subject])
        paths.append(nfc(f"Tuần {week}/{subject}/Bài bổ sung {round_no}.{i + 1} - {title}.docx"))
    return paths


def _size(rng: random.Random, big: bool) -> int:
    if big:
        return rng.randint(2 * MB, 10 * MB)
    # Skewed towards small files: mean about 65 KB, a tail up to 300 KB.
    return int(20 * KB + 280 * KB * rng.betavariate(1.2, 6))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the benchmark records folder.")
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-bytes", type=int, default=None, help="cap every file's size")
    args = parser.parse_args(argv)
    try:
        corpus = generate(args.out, args.files, args.seed, args.max_bytes)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return int(exc.exit_code)
    folders = folders_of(item.path for item in corpus)
    total = sum(item.size for item in corpus)
    print(f"{len(corpus)} files, {len(folders)} folders, {total / MB:.1f} MB in {args.out}")
    return 0


def folders_of(paths: Iterable[str]) -> list[str]:
    """Every folder that holds one of ``paths`` (relative, ``/``-separated), sorted."""
    return sorted({"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)})


if __name__ == "__main__":
    sys.exit(main())
