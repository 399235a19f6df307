"""`hoso demo`: a real WebDAV share on 127.0.0.1, sample records, and the agent, live.

Everything lives in one work folder (a temp folder unless --workdir is given): the share's
files, the teacher's records folder, the agent's state and config. The embedded server is
wsgidav on a free loopback port with a one-off password; nothing leaves the machine.
"""

from __future__ import annotations

import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from . import config as configmod
from .daemon import Daemon, DaemonState, off_main_thread
from .hooks import Notification
from .i18n import _
from .lock import InstanceLock
from .web.server import login_url, serve

DEMO_USER = "giaovien"

LESSONS = [
    ("Tuần 12/Toán", "Toán", "Bài 23: Phép cộng trong phạm vi 100", "4"),
    ("Tuần 12/Tiếng Việt", "Tiếng Việt", "Bài 45: Ôn tập đọc hiểu", "4"),
    ("Tuần 12/Đạo đức", "Đạo đức", "Bài 6: Em yêu quê hương", "4"),
    ("Tuần 13/Toán", "Toán", "Bài 24: Luyện tập chung", "4"),
]


def run_demo(
    *, seconds: float, workdir: Path | None, echo: Callable[[str], None], today: date
) -> None:
    own_folder = workdir is None
    base = Path(tempfile.mkdtemp(prefix="hoso-demo-")) if workdir is None else workdir
    base.mkdir(parents=True, exist_ok=True)
    share_dir, records, state = base / "share", base / "HoSo", base / "state"
    share_dir.mkdir(exist_ok=True)
    password = secrets.token_urlsafe(12)
    server, url = _start_share(share_dir, password)
    try:
        cfg = _write_config(base, records, state, url, password)
        write_sample_records(records, today)
        echo(
            _("Demo share (WebDAV): {url}  user: {user}  password: {password}").format(
                url=url, user=DEMO_USER, password=password
            )
        )
        echo(_("Records folder: {root}").format(root=records))
        echo(_("Save or edit files there and watch them sync. Press Ctrl-C to stop."))
        _run_agent(cfg, share_dir, seconds, echo)
    finally:
        server.stop()
        if own_folder:
            shutil.rmtree(base, ignore_errors=True)


def _start_share(folder: Path, password: str):
    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    app = WsgiDAVApp(
        {
            "provider_mapping": {"/": str(folder)},
            "simple_dc": {"user_mapping": {"*": {DEMO_USER: {"password": password}}}},
            "http_authenticator": {
                "accept_basic": True,
                "accept_digest": False,
                "default_to_digest": False,
            },
            "verbose": 0,
            "logging": {"enable": False},
        }
    )
    server = wsgi.Server(("127.0.0.1", 0), app, numthreads=8)
    server.prepare()
    threading.Thread(target=server.serve, name="hoso-demo-share", daemon=True).start()
    host, port = server.bind_addr[:2]
    return server, f"http://{host}:{port}/"


def _write_config(base: Path, records: Path, state: Path, url: str, password: str):
    path = base / "agent.toml"
    text = configmod.render(records, url, "/GV-Lan", DEMO_USER, str(state))
    text += "\n[sync]\nsettle_seconds = 1.0\npoll_interval = 5.0\n"
    configmod.write_private(path, text)
    cfg = configmod.load(path)
    configmod.write_private(cfg.password_file, password + "\n")
    return cfg


def write_sample_records(records: Path, today: date) -> list[Path]:
    """A few real lesson plans (.docx) with Vietnamese names, as teachers keep them. The
    last one's "Rút kinh nghiệm" is still blank although it was taught a few days before
    ``today``, so the demo shows validation at work whatever the date."""
    from docx import Document

    written = []
    for number, (folder, subject, title, grade) in enumerate(LESSONS, start=1):
        last = number == len(LESSONS)
        reflection = (
            "........................................"
            if last
            else "Học sinh làm tốt phần luyện tập; cần thêm thời gian cho bài có lời văn."
        )
        taught = today - timedelta(days=3)
        when = f"ngày {taught:%d/%m/%Y}" if last else "tuần " + folder.split("/")[0].split()[-1]
        target = records / folder / f"{title.split(':')[0]} - {subject}.docx"
        target.parent.mkdir(parents=True, exist_ok=True)
        doc = Document()
        doc.add_heading("KẾ HOẠCH BÀI DẠY", level=1)
        doc.add_paragraph(f"Môn học: {subject}    Lớp: {grade}")
        doc.add_paragraph(f"Tên bài học: {title}    Số tiết: 1")
        doc.add_paragraph(f"Thời gian thực hiện: {when}")
        for heading, body in (
            ("I. Yêu cầu cần đạt", "Học sinh thực hiện được phép tính; vận dụng vào bài toán."),
            ("II. Đồ dùng dạy học", "Bộ đồ dùng học Toán, phiếu bài tập."),
            ("III. Các hoạt động dạy học chủ yếu", "1. Khởi động  2. Khám phá  3. Luyện tập"),
            ("IV. Điều chỉnh sau bài dạy", reflection),
        ):
            doc.add_heading(heading, level=2)
            doc.add_paragraph(body)
        doc.save(str(target))
        written.append(target)
    return written


def _run_agent(cfg, share_dir: Path, seconds: float, echo: Callable[[str], None]) -> None:
    stop = threading.Event()
    manager_done = threading.Event()

    def on_pass(state: DaemonState) -> None:
        if state.last_error is not None:
            echo(_("! {error}").format(error=state.last_error))
            return
        result = state.last_result
        if result is None:
            return
        report = result.report
        for path in report.uploaded:
            echo(_("↑ uploaded to the share: {path}").format(path=path))
        for path in report.downloaded:
            echo(_("↓ downloaded from the share: {path}").format(path=path))
        for path in report.deleted_local + report.deleted_remote:
            echo(_("✗ deleted (kept in the trash): {path}").format(path=path))
        for source, target in report.moved:
            echo(_("→ renamed or moved: {source} → {target}").format(source=source, target=target))
        for conflict in report.conflicts:
            echo(_("! conflict: your version kept as {copy}").format(copy=conflict["copy"]))
        if report.uploaded and not manager_done.is_set():
            manager_done.set()
            _manager_comments(share_dir)
            echo(_("(A manager just put comments on the share; watch them come down.)"))
            daemon.poll_now()

    def on_notice(note: Notification) -> None:
        # What the teacher would see in a desktop notification, or in the agent's log.
        echo(_("! {title} — {body}").format(title=note.title, body=note.body))

    # Under the instance lock and listening, as `hoso run`: what the teacher's page asks
    # (resolve a conflict, restore a file) is carried out by this agent between its passes.
    daemon = Daemon(cfg, stop, on_pass=on_pass, on_notice=on_notice, serve_requests=True)

    def halt(*_args: object) -> None:
        stop.set()
        daemon.poke()

    previous = signal.signal(signal.SIGINT, halt)
    previous_term = signal.signal(signal.SIGTERM, halt)
    timer = threading.Timer(seconds, halt) if seconds else None
    if timer:
        timer.start()
    lock = InstanceLock(cfg.state_dir)
    lock.acquire()
    page = serve(cfg.path, cfg.state_dir)
    echo(
        _("The teacher's page (open it in a browser within two minutes): {url}").format(
            url=login_url(cfg.state_dir, page.port, now=time.time())
        )
    )
    try:
        off_main_thread(daemon.run)  # Ctrl-C heard at once, as by `hoso run`
    finally:
        page.close()
        lock.release()
        if timer:
            timer.cancel()
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    echo(_("Demo stopped."))


def _manager_comments(share_dir: Path) -> None:
    """What a reviewing manager does: put a commented file back on the share."""
    folder = share_dir / "GV-Lan" / "Tuần 12"
    folder.mkdir(parents=True, exist_ok=True)
    note = folder / "Nhận xét của tổ trưởng - Tuần 12.txt"
    note.write_text(
        "Kế hoạch bài dạy tuần 12 đầy đủ. Nhớ ghi mục Điều chỉnh sau bài dạy sau mỗi tiết.\n",
        encoding="utf-8",
    )
