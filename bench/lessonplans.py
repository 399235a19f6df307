"""A corpus of real lesson plans (.docx) for the validation benchmark.

Each file is one lesson on the CV 2345 structure: header lines, the title, sections I–IV with
the two-column activities table, about three pages. One in ten has a problem a teacher might
leave (reflection missing, or two lessons in one file) so that the checks do real work.
Deterministic for a given seed.
"""

from __future__ import annotations

import random
from pathlib import Path

from docx import Document
from docx.shared import Pt

SUBJECTS = ["Toán", "Tiếng Việt", "Đạo đức", "Tự nhiên và Xã hội", "Âm nhạc", "Mĩ thuật"]
ACTIVITIES = [
    "1. Mở đầu – Khởi động",
    "2. Hình thành kiến thức mới – Khám phá",
    "3. Luyện tập, thực hành",
    "4. Vận dụng, trải nghiệm",
]
FILLER = (
    "Học sinh quan sát tranh, thảo luận nhóm đôi và trình bày kết quả trước lớp; giáo viên "
    "nhận xét, tuyên dương và chốt lại kiến thức trọng tâm của bài học."
)


def write_lesson(
    path: Path, *, week: int, subject: str, lesson: int, rng: random.Random, problem: str = ""
) -> None:
    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(14)
    doc.add_paragraph(f"Môn học/hoạt động giáo dục: {subject}")
    doc.add_paragraph(f"Lớp: {rng.randint(1, 5)}A")
    doc.add_paragraph(f"Tên bài học: Bài {lesson}: Ôn tập và luyện tập; Số tiết: 1")
    doc.add_paragraph(f"Tuần: {week}")
    doc.add_paragraph(f"Thời gian thực hiện: ngày {rng.randint(1, 28)} tháng 10 năm 2026")
    lessons = 2 if problem == "two_lessons" else 1
    for _ in range(lessons):
        title = doc.add_paragraph()
        title.add_run("KẾ HOẠCH BÀI DẠY").bold = True
        doc.add_heading("I. YÊU CẦU CẦN ĐẠT", level=1)
        for _line in range(4):
            doc.add_paragraph("- " + FILLER)
        doc.add_heading("II. ĐỒ DÙNG DẠY HỌC", level=1)
        doc.add_paragraph("- Giáo viên: tranh ảnh, phiếu học tập, bài giảng điện tử.")
        doc.add_paragraph("- Học sinh: sách giáo khoa, vở bài tập, bảng con.")
        doc.add_heading("III. CÁC HOẠT ĐỘNG DẠY HỌC CHỦ YẾU", level=1)
        table = doc.add_table(rows=1, cols=2)
        table.rows[0].cells[0].text = "Hoạt động của giáo viên"
        table.rows[0].cells[1].text = "Hoạt động của học sinh"
        for activity in ACTIVITIES:
            row = table.add_row().cells
            row[0].text = f"{activity}\n{FILLER}\n{FILLER}"
            row[1].text = f"- {FILLER}"
        if problem != "no_reflection":
            doc.add_heading("IV. ĐIỀU CHỈNH SAU BÀI DẠY (RÚT KINH NGHIỆM)", level=1)
            doc.add_paragraph("Học sinh nắm được bài; cần thêm thời gian cho phần luyện tập.")
    doc.save(str(path))


def generate(out: Path, count: int, seed: int = 1) -> list[Path]:
    """``count`` lesson plans under ``out``/KHBD/Tuần N/…; returns their paths."""
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        week = 1 + i // 12
        subject = SUBJECTS[i % len(SUBJECTS)]
        folder = out / "KHBD" / f"Tuần {week}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{subject} - Bài {i + 1}.docx"
        roll = rng.random()
        problem = "no_reflection" if roll < 0.05 else "two_lessons" if roll < 0.1 else ""
        write_lesson(path, week=week, subject=subject, lesson=i + 1, rng=rng, problem=problem)
        paths.append(path)
    return paths
