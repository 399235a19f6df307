"""Record types and folded matching (agent/records.py)."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.records import RecordType, classify, record_type_from_dict
from agent.recordtypes import load_types_file, shipped_types_file
from agent.textfold import fold, fold_pattern

VIETNAMESE = (
    "aăâbcdđeêghiklmnoôơpqrstuưvxyàằầèềìòồờùừỳáắấéếíóốớúứýảẳẩẻểỉỏổởủửỷãẵẫẽễĩõỗỡũữỹạặậẹệịọộợụựỵ"
)


def reference_fold(text: str) -> str:
    """The obvious, slow definition that fold()'s lookup table must agree with."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    bare = bare.replace("đ", "d").replace("Đ", "D").lower()
    bare = re.sub(r"[\s_\-–—.]+", " ", bare).strip()
    return re.sub(r"\b([bcdghklmnpqrstvx])y\b", r"\1i", bare)


@given(st.text(alphabet=VIETNAMESE + VIETNAMESE.upper() + " -_.", max_size=40))
def test_fold_agrees_with_the_reference_for_nfc_and_nfd(text: str) -> None:
    expected = reference_fold(text)
    assert fold(text) == expected
    assert fold(unicodedata.normalize("NFD", text)) == expected
    assert not set(fold(text)) - set("abcdefghijklmnopqrstuvwxyz ")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Lịch sử và Địa lý", "LICH SU VA DIA LI"),
        ("Mĩ thuật", "Mỹ thuật"),
        ("Hoà bình", "Hòa bình"),
        ("Kế_hoạch-bài   dạy", "ke hoach bai day"),
    ],
)
def test_spellings_schools_mix_fold_alike(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_patterns_keep_their_character_sets() -> None:
    assert fold_pattern("*Bài [0-9]*") == "*bai [0-9]*"
    assert fold_pattern("T[0-9][0-9]") == "t[0-9][0-9]"


SHIPPED = load_types_file(shipped_types_file())


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("Kế hoạch bài dạy/Tuần 5/Toán - Bài 12.docx", "KHBD"),
        ("Tuần 5/Bài 12 - Toán.docx", "KHBD"),  # a document in a week folder: a lesson plan
        ("Tuan_05/Tiết 2 Tiếng Việt.odt", "KHBD"),
        ("Sổ dự giờ/Bài 5.docx", "SHCM"),  # the folder says more than the name
        ("Tuần 2/Sổ chủ nhiệm tuần 2.docx", "SCN"),  # a name says more than a week folder
        ("Học bạ/Lớp 3A.pdf", "NENTANG"),
        ("Tuần 5/Ảnh lớp.jpg", None),  # the week fallback takes documents only
        ("Ghi chú.txt", None),
    ],
)
def test_shipped_types_classify_the_usual_layouts(path: str, code: str | None) -> None:
    found = classify(path, SHIPPED)
    assert (found.code if found else None) == code


def test_a_types_table_with_a_mistake_is_refused_with_the_key_named() -> None:
    with pytest.raises(ValueError, match="unknown key 'folder'"):
        record_type_from_dict({"code": "X", "name_vi": "x", "name_en": "x", "folder": []})
    with pytest.raises(ValueError, match="'formats' must be a list"):
        record_type_from_dict({"code": "X", "name_vi": "x", "name_en": "x", "formats": "docx"})
    made = record_type_from_dict(
        {"code": "X", "name_vi": "x", "name_en": "x", "formats": ["DOCX", ".pdf"]}
    )
    assert made == RecordType("X", "x", "x", formats=(".docx", ".pdf"))
