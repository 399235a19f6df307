"""hoso-size-limit: warns about records too big to be sent for inspection by email.

Inspections receive records as email attachments (never links). Gmail turns attachments over
25 MB into Drive links, so hoso keeps each message under about 15 MB of files; a single
record bigger than that cannot be sent at all. This plugin says so when the file is saved,
long before the inspection.

Settings, in the agent's config file:

    [plugins.size_limit]
    max_mb = 15
"""

from __future__ import annotations

from agent.api import Config, Finding, Record, Severity, detect_language
from agent.hooks import hookimpl

DEFAULT_MAX_MB = 15

# hoso's own message catalogue covers hoso only: a plugin brings its own texts.
MESSAGES = {
    "vi": (
        "Tệp nặng {size:.1f} MB: quá lớn để đính kèm thư nộp kiểm tra.",
        "Nén hình ảnh trong tệp (Word: Tệp › Nén ảnh) hoặc tách thành nhiều tệp.",
    ),
    "en": (
        "The file is {size:.1f} MB: too big to attach to an inspection email.",
        "Compress the pictures in it (Word: File › Compress Pictures) or split it.",
    ),
}


@hookimpl
def hoso_validate_record(config: Config, record: Record) -> list[Finding]:
    max_mb = config.plugins.settings("size_limit").get("max_mb", DEFAULT_MAX_MB)
    if record.size <= max_mb * 1_000_000:
        return []
    message, fix = MESSAGES[detect_language(config.language)]
    return [
        Finding(
            path=record.path,
            rule="size_limit.too-big-for-email",
            severity=Severity.WARNING,
            message=message.format(size=record.size / 1_000_000),
            fix=fix,
        )
    ]
