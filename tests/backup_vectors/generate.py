"""Write the committed known-answer vectors of this folder (run by hand, never by the tests).

    .venv/bin/python tests/backup_vectors/generate.py

``vectors.json`` comes from the independent reference implementation with fixed keys, salts
and nonces, so regenerating it gives the same bytes. ``repository-v2/`` is a small repository
of format 2 written by hoso itself (random nonces: regenerating changes its bytes, and
``repository-v2.json`` with them). ``repository/`` (format 1, ``repository.json``) was written
the same way by the hoso of format 1 and is kept as it is: this script no longer writes it.
Add a folder for each new format version, keeping the old ones: a hoso must go on reading
every repository it ever wrote.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))

import reference  # noqa: E402

from agent.backup.repository import Repository  # noqa: E402
from agent.envelope import KdfParams  # noqa: E402

MASTER = bytes(range(64))
REPO_ID = bytes(range(0x10, 0x20))
PASSPHRASE = "Mật khẩu sao lưu của cô Lan"
SNAPSHOT_TEXT = (
    '{"version":1,"time":"2026-11-29T09:30:00+07:00","host":"GV-LAN","tags":["daily"],'
    '"root":"/home/lan/HoSo","tree":"00","files":1,"bytes":5,"bytes_added":5}'
)
INDEX_TEXT = json.dumps(
    {"packs": [], "supersedes": [], "note": "Tuần 12 " * 40}, ensure_ascii=False
)


def vectors() -> dict[str, object]:
    key, id_key = reference.derive(MASTER)
    envelopes = []
    for kind, name, text, compress, nonce in (
        (b"s", "snapshots", SNAPSHOT_TEXT, False, bytes(12)),
        (b"i", "index", INDEX_TEXT, True, bytes(range(12))),
    ):
        plain = text.encode("utf-8")
        sealed = reference.seal(key, REPO_ID, kind, name, nonce, plain, compress)
        envelopes.append(
            {"kind": kind.decode(), "name": name, "plaintext": text, "envelope": sealed.hex()}
        )
    slot = reference.make_slot(
        MASTER,
        REPO_ID.hex(),
        "a0" * 16,
        PASSPHRASE,
        salt=bytes(range(16)),
        nonce=bytes(range(100, 112)),
        n=2**10,
        label="Cô Lan",
        created="2026-11-29T09:30:00+07:00",
    )
    return {
        "master": MASTER.hex(),
        "repository": REPO_ID.hex(),
        "encryption_key": key.hex(),
        "id_key": id_key.hex(),
        "blob_ids": {text: reference.blob_id(id_key, text.encode()) for text in ("", "Bài 1")},
        "envelopes": envelopes,
        "passphrase": PASSPHRASE,
        "slot": slot,
    }


def repository(target: Path) -> dict[str, object]:
    shutil.rmtree(target, ignore_errors=True)
    now = datetime(2026, 11, 29, 9, 30, tzinfo=timezone(timedelta(hours=7)))
    repo = Repository.init(target, PASSPHRASE, label="Cô Lan", kdf=KdfParams(n=2**10), now=now)
    lesson = ("Kế hoạch bài dạy – Tiếng Việt lớp 3. Rút kinh nghiệm: …\n" * 40).encode()
    # Incompressible, like a scanned PDF: stored as is.
    scan = b"".join(hashlib.sha256(bytes([i])).digest() for i in range(100))
    with repo.lock():
        lesson_id, _ = repo.add_blob("data", lesson)
        scan_id, _ = repo.add_blob("data", scan)
        tree = {
            "entries": [
                {"name": "Bài 1.docx", "type": "file", "content": [lesson_id]},
                {"name": "Scan.pdf", "type": "file", "content": [scan_id]},
            ]
        }
        tree_id, _ = repo.add_blob("tree", json.dumps(tree, ensure_ascii=False).encode())
        snapshot = {
            "version": 2,
            "seq": 1,
            "time": now.isoformat(),
            "host": "GV-LAN",
            "tags": [],
            "root": "/home/lan/HoSo",
            "tree": tree_id,
            "files": 2,
            "bytes": len(lesson) + len(scan),
            "bytes_added": 0,
        }
        snapshot_id = repo.save_snapshot(snapshot)
    return {
        "passphrase": PASSPHRASE,
        "repository": repo.id,
        "snapshot": snapshot_id,
        "snapshot_json": snapshot,
        "blobs": {lesson_id: lesson.decode(), tree_id: json.dumps(tree, ensure_ascii=False)},
        "scan": {"id": scan_id, "sha256": hashlib.sha256(scan).hexdigest()},
        "manifest": repo.read_manifest().json(),  # type: ignore[union-attr]
    }


def write(name: str, data: dict[str, object]) -> None:
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    (HERE / name).write_text(text, encoding="utf-8")


def main() -> None:
    write("vectors.json", vectors())
    write("repository-v2.json", repository(HERE / "repository-v2"))


if __name__ == "__main__":
    main()
