"""agent/office.py, the one runner of LibreOffice, with a converter of the test's own (a shell
script standing in for `soffice`: it logs each start and writes a PDF for each document, or
stops on a marked one). The binder's tests (test_print*.py) and the minutes' run it with the
real LibreOffice."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

from agent.api import ConversionFailure, ConverterMissing, Office, find_soffice, is_pdf
from agent.office import BLOCK_LINKS

# Logs its arguments (one start a line), then goes through the documents after --outdir:
# "crash*" (a base name) ends the process, anything else gets a PDF in the output folder.
STAND_IN = """#!/bin/sh
echo "$*" >> {log}
while [ "$1" != "--outdir" ]; do shift; done
out="$2"; shift 2
for name in "$@"; do
  case "${{name##*/}}" in crash*) exit 1;; esac
  printf '%%PDF-1.4\\n%%%%EOF\\n' > "$out/${{name%.*}}.pdf"
done
"""


def _stand_in(tmp_path: Path, log: Path, script: str = STAND_IN) -> Path:
    program = tmp_path / "soffice"
    program.write_text(script.format(log=shlex.quote(str(log))), encoding="utf-8")
    program.chmod(0o755)
    return program


def _folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder, out, profile = tmp_path / "in", tmp_path / "out", tmp_path / "profile"
    folder.mkdir()
    out.mkdir()
    return folder, out, profile


def test_a_crash_settles_its_document_and_a_new_process_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    office = Office(_stand_in(tmp_path, log), timeout=5)
    folder, out, profile = _folders(tmp_path)
    failed = office.convert(["a.docx", "crash.docx", "c.docx"], folder, out, profile)
    assert failed == {"crash.docx": (ConversionFailure.FAILED, "LibreOffice stopped on it")}
    assert sorted(p.name for p in out.iterdir()) == ["a.pdf", "c.pdf"]
    assert is_pdf(out / "c.pdf")
    starts = log.read_text().splitlines()
    assert [s.split("--outdir")[1].split()[1:] for s in starts] == [
        ["./a.docx", "./crash.docx", "./c.docx"],
        ["./c.docx"],
    ]
    # Each process ran with the profile it was given, which blocks links in documents.
    assert all(f"-env:UserInstallation={profile.as_uri()}" in s for s in starts)
    settings = (profile / "user" / "registrymodifications.xcu").read_text(encoding="utf-8")
    assert BLOCK_LINKS in settings


def test_a_libreoffice_that_never_converts_is_given_up_after_three_starts(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    office = Office(_stand_in(tmp_path, log, "#!/bin/sh\necho x >> {log}\nexit 1"), timeout=5)
    folder, out, profile = _folders(tmp_path)
    names = [f"{n}.docx" for n in range(5)]
    failed = office.convert(names, folder, out, profile)
    assert len(log.read_text().splitlines()) == 3
    assert failed == {
        "0.docx": (ConversionFailure.FAILED, "LibreOffice stopped on it"),
        "1.docx": (ConversionFailure.FAILED, "LibreOffice stopped on it"),
        "2.docx": (ConversionFailure.FAILED, "LibreOffice stopped on it"),
        "3.docx": (ConversionFailure.FAILED, "LibreOffice did not start"),
        "4.docx": (ConversionFailure.FAILED, "LibreOffice did not start"),
    }
    assert list(out.iterdir()) == []


def test_libreoffices_own_settings_keep_theirs_and_gain_the_block_once(tmp_path: Path) -> None:
    log = tmp_path / "starts.log"
    office = Office(_stand_in(tmp_path, log), timeout=5)
    folder, out, profile = _folders(tmp_path)
    settings = profile / "user" / "registrymodifications.xcu"
    settings.parent.mkdir(parents=True)
    own = '<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooLocale"/></item>'
    settings.write_text(f'<?xml version="1.0"?>\n<oor:items>\n{own}\n</oor:items>\n')
    office.convert(["a.docx"], folder, out, profile)
    office.convert(["b.docx"], folder, out, profile)
    text = settings.read_text(encoding="utf-8")
    assert own in text
    assert text.count(BLOCK_LINKS) == 1
    assert text.index(own) < text.index(BLOCK_LINKS) < text.index("</oor:items>")


def test_no_libreoffice_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConverterMissing) as raised:
        find_soffice()
    assert "soffice / libreoffice" in str(raised.value)
    assert "sudo apt install libreoffice-writer-nogui" in str(raised.value)
    log = tmp_path / "log"
    assert find_soffice(str(_stand_in(tmp_path, log))) == tmp_path / "soffice"


@pytest.mark.skipif(not any(map(shutil.which, ("soffice", "libreoffice"))), reason="no LibreOffice")
def test_a_name_that_looks_like_an_option_is_converted_as_a_document(tmp_path: Path) -> None:
    # Unprefixed, soffice took "-lich.txt" for an option and stopped on it.
    folder, out, profile = _folders(tmp_path)
    names = ["-lich.txt", "--convert-to.txt", "b c'q.txt"]
    for name in names:
        (folder / name).write_text("Rút kinh nghiệm", encoding="utf-8")
    failed = Office(find_soffice(), timeout=60).convert(names, folder, out, profile)
    assert failed == {}
    assert sorted(p.name for p in out.iterdir()) == ["--convert-to.pdf", "-lich.pdf", "b c'q.pdf"]
    assert all(is_pdf(out / p) for p in ("-lich.pdf", "--convert-to.pdf", "b c'q.pdf"))
