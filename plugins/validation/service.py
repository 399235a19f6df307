"""The validation plugin's services behind `hoso template`, `hoso report` and `hoso convert`:
each does the work, raises a UsageError (exit 2) with one clear message on bad input, and
prints nothing; commands.py parses the options and prints the results.

The document libraries load when a service runs, not whenever `hoso` starts.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from agent.api import (
    Config,
    Finding,
    Limits,
    RecordType,
    RelPath,
    TooComplex,
    Unreadable,
    UsageError,
    _,
    create_new,
    load_types_file,
    school_folder,
    school_week,
    shipped_types_file,
)

from .settings import Settings, record_types, settings_of

if TYPE_CHECKING:
    from .report import CompletenessReport

BUILTIN_TEMPLATE = "KHBD"  # the record type hoso has a template of its own for
REPORT_FORMATS = ("html", "csv", "json")


@dataclass(frozen=True)
class Template:
    """What `hoso template` wrote: where, and from which school template (None: hoso's own)."""

    path: Path
    school_template: Path | None


def default_template_file(code: str) -> Path:
    """Where `hoso template CODE` writes without --out: "KHBD - mẫu.docx" in the current
    folder."""
    return Path(f"{code} - mẫu.docx")


def write_template(
    config: Config | None, kind: str, out: Path | None, *, builtin: bool
) -> Template:
    """A blank record of the type ``kind`` (a record type code, any case) at ``out``: the
    school's own template from the school folder's ``Biểu mẫu/`` when it has one (see
    schooltemplate.py) and ``builtin`` is not asked, else hoso's own (KHBD only). Never over
    an existing file; UsageError (nothing written) for an unknown kind, a kind with no
    template anywhere, or a school template that does not check."""
    from .schooltemplate import FOLDER, find

    record_type = _record_type(config, kind)
    code = record_type.code
    out = out or default_template_file(code)
    school = school_folder(config) if config is not None and not builtin else None
    settings = settings_of(config) if config else Settings()
    found = find(school, record_type, settings.limits()) if school is not None else None
    if found is None and code != BUILTIN_TEMPLATE:
        raise UsageError(
            _(
                "hoso has no template of its own for {code}, and no school template for it was "
                "used (`{folder}/{code}.docx` in the school folder). Nothing was written."
            ).format(code=code, folder=FOLDER)
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)  # a new week's folder, say
        if found is not None:
            # The bytes that were checked, as they are: a document to print and share.
            create_new(out, found.data, mode=0o644)
        else:
            from .template import write_template as write_builtin

            write_builtin(out)
    except FileExistsError:
        raise UsageError(
            _("{path} already exists; nothing was written. Choose another name with --out.").format(
                path=out
            )
        ) from None
    except OSError as exc:
        raise UsageError(
            _("Cannot write {path}: {detail}").format(path=out, detail=exc.strerror)
        ) from None
    return Template(out, found.path if found is not None else None)


def _record_type(config: Config | None, kind: str) -> RecordType:
    types = record_types(config) if config else load_types_file(shipped_types_file())
    wanted = kind.strip().upper()
    for record_type in types:
        if record_type.code.upper() == wanted:
            return record_type
    raise UsageError(
        _("There is no record type {kind}; the codes are: {codes}.").format(
            kind=kind, codes=", ".join(t.code.lower() for t in types)
        )
    )


def report_text(
    config: Config | None,
    folder: Path,
    *,
    week: int | None,
    fmt: str,
    teacher_depth: int,
    today: date,
) -> str:
    """The per-teacher, per-week report of ``folder`` (a copy of the school share) in ``fmt``
    (one of REPORT_FORMATS): ``week`` only, else every week up to ``today``'s. Without a
    config, the default settings and the shipped record types."""
    from . import report as reportmod

    built = completeness(
        config, folder, weeks=[week] if week else None, teacher_depth=teacher_depth, today=today
    )
    if fmt == "json":
        return json.dumps(reportmod.to_json(built), ensure_ascii=False, indent=2)
    if fmt == "csv":
        # Excel on Windows reads UTF-8 (Vietnamese names) only after a byte-order mark.
        return "\ufeff" + reportmod.to_csv(built)
    return reportmod.to_html(built)


# A lesson plan's verdict, by (path, size, modification time, type, day): the managers' page
# builds the report every few seconds, and a file checked once is not read again unchanged.
Verdicts = dict[tuple[str, int, int, str, date], list[Finding]]


def completeness(
    config: Config | None,
    folder: Path,
    *,
    weeks: Sequence[int] | None,
    teacher_depth: int,
    today: date,
    remembered: Verdicts | None = None,
) -> CompletenessReport:
    """The completeness report of ``folder`` for ``weeks`` (None: every week up to
    ``today``'s), as `hoso report` builds it; ``remembered`` keeps the checks' findings
    between calls. UsageError when the folder cannot be read."""
    from . import report as reportmod

    settings = settings_of(config) if config else Settings()
    types = record_types(config) if config else load_types_file(shipped_types_file())
    year_start = settings.start_of_year(today)
    if weeks is None:
        weeks = list(range(1, school_week(today, year_start) + 1))
    check: reportmod.Check = functools.partial(
        _check,
        today=today,
        year_start=year_start,
        disabled=settings.disabled_rules,
        limits=settings.limits(),
    )
    if remembered is not None:
        check = functools.partial(_remembered, check=check, verdicts=remembered, today=today)
    try:
        return reportmod.build_report(
            folder,
            types=types,
            check=check,
            weeks=weeks,
            teacher_depth=teacher_depth,
            today=today,
            names=config.roles.school.teacher_name if config else None,
        )
    except OSError as exc:
        raise UsageError(
            _("Cannot read {path}: {detail}. Nothing was written.").format(
                path=exc.filename or folder, detail=exc.strerror or exc
            )
        ) from None


MAX_REMEMBERED = 50_000  # verdicts kept: a school's lesson plans of a year, a few MB


def _remembered(
    file: Path,
    path: RelPath,
    record_type: RecordType | None,
    *,
    check: Callable[[Path, RelPath, RecordType | None], list[Finding]],
    verdicts: Verdicts,
    today: date,
) -> list[Finding]:
    try:
        st = file.stat()
    except OSError:
        return check(file, path, record_type)
    key = (path, st.st_size, st.st_mtime_ns, record_type.code if record_type else "", today)
    found = verdicts.get(key)
    if found is None:
        if len(verdicts) >= MAX_REMEMBERED:
            verdicts.clear()
        found = verdicts[key] = check(file, path, record_type)
    return found


def _check(
    file: Path,
    path: RelPath,
    record_type: RecordType | None,
    *,
    today: date,
    year_start: date,
    disabled: frozenset[str],
    limits: Limits,
) -> list[Finding]:
    from .checks import check_record

    try:
        size = file.stat().st_size
    except OSError:  # removed while the report was being built (the share is syncing)
        return []
    return check_record(
        file,
        path,
        record_type,
        size=size,
        today=today,
        year_start=year_start,
        disabled=disabled,
        limits=limits,
    )


@dataclass(frozen=True)
class Converted:
    copy: Path  # the Unicode copy, beside the original unless asked elsewhere
    runs: int  # pieces of text converted


def convert_to_unicode(
    file: Path, out: Path | None, load_config: Callable[[], Config | None]
) -> Converted:
    """A Unicode copy of the .docx ``file`` (a path, or a record's path relative to the
    records folder) typed in TCVN3 or VNI fonts; the original is never changed and an
    existing copy never replaced. The config loads only when ``file`` is no path as given."""
    from agent.api import convert_docx  # lxml loads only for a conversion

    source = _locate(file, load_config)
    if source.suffix.lower() != ".docx":
        raise UsageError(
            _("Only .docx files can be converted; open {path} and save it as .docx first.").format(
                path=file
            )
        )
    target = out or source.with_name(f"{source.stem} (Unicode).docx")
    if target.exists():
        raise UsageError(
            _("{path} already exists; nothing was written. Choose another name with --out.").format(
                path=target
            )
        )
    try:
        runs = convert_docx(source, target)
    except (Unreadable, TooComplex):
        raise UsageError(
            _(
                "{path} cannot be read (protected by a password, damaged or far too large); "
                "nothing was written."
            ).format(path=file)
        ) from None
    return Converted(target, runs)


def _locate(file: Path, load_config: Callable[[], Config | None]) -> Path:
    if file.is_file():
        return file
    config = load_config()
    if config is not None and (config.root / file).is_file():
        return config.root / file
    raise UsageError(_("No file {path}.").format(path=file))
