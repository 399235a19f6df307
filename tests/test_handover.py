"""The school mailbox handover, end to end: two keepers on one machine, one shared folder.

Each keeper is a config of its own (own XDG folders, own vault, own state) whose records root
is the same folder, standing in for the synced share that carries the handover log between
them. Every step runs the real `hoso` CLI in a subprocess; the plugin's scheduled job is
called directly, as the agent's loop would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import docx
import pypdf
import pytest
from agents import REPO, hoso_command, hoso_env, to_toml

from agent import config as configmod
from agent import hooks
from agent.hooks import JobContext, Notification
from plugins.handover import ledger, run_job
from plugins.handover.bundle import file_name
from plugins.handover.keys import HandoverKeys, PublicKey
from plugins.handover.ledger import FOLDER
from plugins.handover.service import SEEN_FILE

PASSWORD = "Mật-khẩu#Trường2026!zq"
ACCOUNT = {
    "address": "c1binhchanh@hcm.edu.vn",
    "provider": "Google Workspace",
    "login_url": "https://mail.google.com",
    "recovery": "0909 123 456",
}
RECEIVER = "Trần Thị Bình, Giáo viên"
WITNESS = "Lê Văn Cường, Hiệu trưởng"


# --- two keepers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A folder to put on PYTHONPATH so that `hoso` finds the plugin, when it is not yet
    among the built-ins: an entry point in the `hoso` group, as a third-party plugin has."""
    if "plugins.handover" in hooks.BUILTIN_PLUGINS:
        return ""
    site = tmp_path_factory.mktemp("site")
    info = site / "hoso_handover_test-0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hoso-handover-test\nVersion: 0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text("[hoso]\nhandover = plugins.handover\n")
    return str(site)


@dataclass
class Keeper:
    home: Path
    root: Path
    plugin_path: str
    keeper: str = ""  # "NAME, POSITION" in [school.mailbox_keeper]
    outputs: list[str] = field(default_factory=list)  # what `ok` commands printed
    env: dict[str, str] = field(default_factory=dict)

    pinned: list[tuple[str, str]] = field(default_factory=list)  # [[school.keepers]]
    school_folder: Path | None = None  # [school] folder_root: its local copy, as if synced

    def __post_init__(self) -> None:
        self.config_path = self.home / "config" / "hoso" / "agent.toml"
        self.state_dir = self.home / "state" / "hoso"
        self.write_config()

    def write_config(self) -> None:
        school: dict[str, object] = {
            "name": "Trường Tiểu học Bình Chánh",
            "governing_body": "Phòng GD&ĐT huyện Bình Chánh",
            "mailbox": ACCOUNT["address"],
            "decision": {"number": "15/QĐ-TH", "date": "2026-09-05"},
        }
        if self.keeper:
            name, position = self.keeper.split(", ")
            school["mailbox_keeper"] = {"name": name, "position": position}
        if self.school_folder is not None:
            school["folder_url"] = "Truong"
            school["folder_root"] = str(self.school_folder)
        raw: dict[str, object] = {
            "root": str(self.root),
            "state_dir": str(self.state_dir),
            "host_name": self.home.name,
            "language": "en",
            "remote": {"url": "http://127.0.0.1:9/"},
            "school": school,
        }
        keepers = "".join(
            f"\n[[school.keepers]]\nname = {json.dumps(name, ensure_ascii=False)}\n"
            f"key = {json.dumps(key)}\n"
            for name, key in self.pinned
        )
        configmod.write_private(self.config_path, to_toml(raw) + keepers)

    def pin(self, name: str, fingerprint: str) -> None:
        """Pin a keeper key in this computer's config, as the admin does."""
        self.pinned.append((name, fingerprint))
        self.write_config()

    def hoso(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        env = {
            **self.env,
            "XDG_CONFIG_HOME": str(self.home / "config"),
            "XDG_STATE_HOME": str(self.home / "state"),
            "XDG_DATA_HOME": str(self.home / "data"),
            "PYTHONPATH": f"{REPO}:{self.plugin_path}" if self.plugin_path else str(REPO),
        }
        return subprocess.run(
            hoso_command("--config", str(self.config_path), *args),
            input=stdin,
            capture_output=True,
            text=True,
            env=hoso_env(env),
            timeout=120,
            cwd=self.home,
        )

    def ok(self, *args: str, stdin: str = "") -> str:
        done = self.hoso(*args, stdin=stdin)
        assert done.returncode == 0, f"hoso {' '.join(args)}: {done.stderr}"
        self.outputs.append(done.stdout + done.stderr)
        return done.stdout

    def keygen(self) -> PublicKey:
        lines = dict(line.split(": ", 1) for line in self.ok("handover", "keygen").splitlines())
        key = PublicKey.parse(lines["public key"])
        assert lines["fingerprint"] == key.fingerprint()
        return key

    def store_account(self) -> None:
        fields = [arg for k, v in ACCOUNT.items() for arg in ("--field", f"{k}={v}")]
        self.ok("vault", "set", "school-mailbox", *fields, stdin=PASSWORD + "\n")

    def vault_names(self) -> list[str]:
        return [row["name"] for row in json.loads(self.ok("vault", "list", "--json"))]

    def vault_entry(self, name: str) -> dict[str, object]:
        rows = json.loads(self.ok("vault", "list", "--json"))
        return next(row for row in rows if row["name"] == name)

    def run_job(self) -> list[Notification]:
        sent: list[Notification] = []
        config = configmod.load(self.config_path)
        run_job(JobContext(config=config, now=1_790_000_000.0, last_run=None, notify=sent.append))
        return sent


@dataclass
class Scene:
    giver: Keeper
    receiver: Keeper
    stranger: Keeper
    share: Path
    out: Path


@pytest.fixture
def scene(tmp_path: Path, plugin_path: str) -> Scene:
    share = tmp_path / "share"
    share.mkdir()
    giver = Keeper(tmp_path / "giver", share, plugin_path, keeper="Nguyễn Văn An, Giáo viên")
    receiver = Keeper(tmp_path / "receiver", share, plugin_path)
    stranger = Keeper(tmp_path / "stranger", share, plugin_path)
    return Scene(giver, receiver, stranger, share, tmp_path / "out")


def prepare(scene: Scene, key: PublicKey) -> Path:
    """The giver prepares a handover to ``key``; the bundle's path."""
    printed = scene.giver.ok(
        "handover",
        "prepare",
        "--to",
        key.text(),
        "--receiver",
        RECEIVER,
        "--witness",
        WITNESS,
        "--out",
        str(scene.out),
    )
    [bundle] = [Path(line.split(": ", 1)[1]) for line in printed.splitlines() if "bundle:" in line]
    assert bundle.is_file()
    return bundle


def accept(receiver: Keeper, bundle: Path, giver: Keeper) -> str:
    """The receiver accepts ``bundle``, confirming the fingerprint the giver reads out."""
    fingerprint = giver.keygen().fingerprint()
    return receiver.ok("handover", "accept", str(bundle), "--fingerprint", fingerprint)


def all_files(*tops: Path) -> list[Path]:
    return [p for top in tops for p in top.rglob("*") if p.is_file()]


def assert_password_nowhere(keepers: list[Keeper], *tops: Path) -> None:
    """The password's bytes are in no file (zip members unpacked) and no CLI output."""
    needle = PASSWORD.encode("utf-8")
    for path in all_files(*tops):
        data = path.read_bytes()
        assert needle not in data, path
        if path.suffix == ".pdf":  # the minutes' PDF, where LibreOffice made one
            text = "".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
            assert PASSWORD not in text
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    assert needle not in archive.read(member), f"{path}:{member}"
    for printed in (out for keeper in keepers for out in keeper.outputs):
        assert PASSWORD not in printed


def history(keeper: Keeper) -> dict[str, object]:
    done = keeper.hoso("handover", "history", "--json")
    document: dict[str, object] = json.loads(done.stdout)
    assert done.returncode == (0 if document["verified"] else 1), done.stderr  # for scripts
    return document


# --- the whole handover --------------------------------------------------------------------------


def test_a_full_handover_moves_the_account_and_removes_the_givers_copy(scene: Scene) -> None:
    giver, receiver = scene.giver, scene.receiver
    giver.store_account()
    key = receiver.keygen()
    assert receiver.keygen() == key  # keygen again shows the same key

    bundle = prepare(scene, key)
    minutes = scene.out / f"bien-ban-ban-giao-{bundle.name[len('ban-giao-') :][:8]}.docx"
    text = "\n".join(
        [p.text for p in docx.Document(str(minutes)).paragraphs]
        + [c.text for t in docx.Document(str(minutes)).tables for r in t.rows for c in r.cells]
    )
    for fact in ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", ACCOUNT["address"]):
        assert fact in text
    # On paper too: the fingerprint the receiver compares before accepting.
    assert giver.keygen().fingerprint() in text and key.fingerprint() in text

    accepted = accept(receiver, bundle, giver)
    giver_fingerprint = giver.keygen().fingerprint()
    assert giver_fingerprint in accepted
    revealed = receiver.hoso("vault", "show", "school-mailbox", "--reveal")  # asked for: shown
    assert f"secret: {PASSWORD}" in revealed.stdout
    assert receiver.vault_entry("school-mailbox")["fields"]["address"] == ACCOUNT["address"]  # type: ignore[index]

    # Until the receiver confirms, the giver keeps the copy and the receiver is reminded.
    assert giver.run_job() == []
    assert "school-mailbox" in giver.vault_names()
    [reminder] = receiver.run_job()
    [waiting] = json.loads(receiver.ok("handover", "status", "--json"))["waiting"]
    assert waiting["receiver"] == RECEIVER and waiting["password_changed_at"] is None
    assert reminder.key.startswith("handover:reminder:") and reminder.urgent
    assert history(giver)["entries"][0]["password_changed_at"] is None  # type: ignore[index]
    notes = json.loads(receiver.ok("status", "--json"))["plugin_notes"]
    assert [n["plugin"] for n in notes] == ["handover"]  # `hoso status` says it too
    assert "confirm --password-changed" in notes[0]["text"]

    receiver.ok("handover", "confirm", "--password-changed")
    assert receiver.run_job() == []  # no more reminders
    assert json.loads(receiver.ok("status", "--json"))["plugin_notes"] == []
    [removed] = giver.run_job()
    assert removed.key.startswith("handover:removed:")
    assert "school-mailbox" not in giver.vault_names()
    assert "school-mailbox" in receiver.vault_names()

    log = history(giver)
    assert log["verified"] is True and log["problems"] == []
    [entry] = log["entries"]  # type: ignore[misc]
    assert entry["giver"] == "Nguyễn Văn An, Giáo viên"
    assert entry["receiver"] == RECEIVER and entry["witness"] == WITNESS
    assert entry["password_changed_at"] and entry["time"]
    assert_password_nowhere([giver, receiver], scene.share, scene.out, giver.home, receiver.home)


def test_history_removes_the_givers_copy_too(scene: Scene) -> None:
    scene.giver.store_account()
    accept(scene.receiver, prepare(scene, scene.receiver.keygen()), scene.giver)
    scene.receiver.ok("handover", "confirm", "--password-changed")
    done = scene.giver.hoso("handover", "history")
    assert done.returncode == 0 and "was removed" in done.stderr
    assert "school-mailbox" not in scene.giver.vault_names()


def test_prepare_takes_a_backup_first_when_there_is_a_repository(scene: Scene) -> None:
    giver = scene.giver
    giver.env["HOSO_BACKUP_PASSPHRASE"] = "cụm mật khẩu sao lưu dài"
    giver.store_account()
    (scene.share / "Tuần 1").mkdir()
    (scene.share / "Tuần 1" / "KHBD.docx").write_bytes(b"lesson plan")
    giver.ok("backup", "init", "--repository", str(giver.home / "backup"))
    prepare(scene, scene.receiver.keygen())
    [snapshot] = json.loads(giver.ok("backup", "list", "--json"))
    assert "before-handover" in snapshot["tags"]


def test_prepare_without_a_repository_warns_and_goes_on(scene: Scene) -> None:
    scene.giver.store_account()
    done = scene.giver.hoso(
        "handover", "prepare", "--to", scene.receiver.keygen().text(), "--receiver", RECEIVER,
        "--out", str(scene.out),
    )  # fmt: skip
    assert done.returncode == 0 and "no backup" in done.stderr
    assert len(list(scene.out.glob("*.hoso-handover"))) == 1


def test_prepare_writes_whole_files_with_their_modes_and_leaves_no_temp(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    [minutes] = scene.out.glob("*.docx")
    # Its PDF beside it where LibreOffice is installed (.ci/run installs it for the binder).
    printed = [minutes.with_suffix(".pdf")] if shutil.which("soffice") else []
    names = [bundle.name, minutes.name, *(p.name for p in printed)]
    assert sorted(p.name for p in scene.out.iterdir()) == sorted(names)
    # The sealed bundle still names people and the school: its owner's only. The minutes are
    # for printing: the permissions any new file gets.
    umask = os.umask(0)
    os.umask(umask)
    assert bundle.stat().st_mode & 0o777 == 0o600
    for document in (minutes, *printed):
        assert document.stat().st_mode & 0o777 == 0o666 & ~umask
    assert history(scene.giver)["verified"] is True
    [log] = (scene.share / FOLDER).iterdir()  # the giver's log file, no temp beside it
    assert log.suffix == ".jsonl" and log.stat().st_mode & 0o777 == 0o644
    seen = scene.giver.state_dir / SEEN_FILE  # what this computer saw of the log
    assert json.loads(seen.read_text())["files"][log.name]["lines"] == 1
    assert seen.stat().st_mode & 0o777 == 0o600
    assert not [p for p in scene.giver.state_dir.iterdir() if p.name.startswith(".")]


# --- bad input: a clear message, nothing imported, nothing removed -------------------------------


def refused(keeper: Keeper, *args: str) -> str:
    done = keeper.hoso(*args)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    return done.stderr


def test_a_mistyped_key_is_refused_before_anything_is_written(scene: Scene) -> None:
    scene.giver.store_account()
    text = scene.receiver.keygen().text()
    typo = text[:-3] + ("A" if text[-3] != "A" else "B") + text[-2:]
    message = refused(
        scene.giver, "handover", "prepare", "--to", typo, "--receiver", RECEIVER,
        "--out", str(scene.out),
    )  # fmt: skip
    assert "checksum" in message
    assert not scene.out.exists() and not list((scene.share / FOLDER).glob("*.jsonl"))


def test_a_missing_account_entry_is_refused(scene: Scene) -> None:
    key = scene.receiver.keygen()
    message = refused(
        scene.giver, "handover", "prepare", "--to", key.text(), "--receiver", RECEIVER,
        "--out", str(scene.out),
    )  # fmt: skip
    assert "school-mailbox" in message and "Nothing was prepared" in message
    assert not scene.out.exists() and not list((scene.share / FOLDER).glob("*.jsonl"))
    assert not scene.giver.config_path.with_name("agent.vault").exists()


def test_a_bundle_for_someone_else_imports_nothing(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    scene.stranger.keygen()
    message = refused(scene.stranger, "handover", "accept", str(bundle))
    assert "another key" in message and "Nothing was imported" in message
    assert "school-mailbox" not in scene.stranger.vault_names()


def _flip(text: str) -> str:
    return text[:-6] + ("B" if text[-6] != "B" else "C") + text[-5:]


@pytest.mark.parametrize(
    "field", ["ciphertext", "nonce", "ephemeral_pub", "created", "id", "giver", "signature"]
)
def test_a_tampered_bundle_imports_nothing(scene: Scene, field: str) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    document = json.loads(bundle.read_text(encoding="utf-8"))
    if field == "giver":
        document["giver"]["name"] = "Kẻ Mạo Danh"
    else:
        document[field] = _flip(document[field])
    bundle.write_text(json.dumps(document), encoding="utf-8")
    message = refused(scene.receiver, "handover", "accept", str(bundle))
    assert "Nothing was imported" in message
    assert "school-mailbox" not in scene.receiver.vault_names()
    assert not any('"accepted"' in p.read_text() for p in (scene.share / FOLDER).glob("*.jsonl"))


def test_a_truncated_bundle_imports_nothing(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    bundle.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    message = refused(scene.receiver, "handover", "accept", str(bundle))
    assert "truncated" in message
    assert "school-mailbox" not in scene.receiver.vault_names()


def test_a_replayed_bundle_is_refused(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    accept(scene.receiver, bundle, scene.giver)
    before = scene.receiver.vault_entry("school-mailbox")
    message = refused(scene.receiver, "handover", "accept", str(bundle))
    assert "already accepted" in message
    assert scene.receiver.vault_entry("school-mailbox") == before


def test_the_same_bundle_name_is_never_reused(scene: Scene) -> None:
    scene.giver.store_account()
    key = scene.receiver.keygen()
    first, second = prepare(scene, key), prepare(scene, key)
    assert first != second and first.name.startswith("ban-giao-")
    assert second.name == file_name(second.name[len("ban-giao-") : -len(".hoso-handover")])


# --- the log -------------------------------------------------------------------------------------


def _confirmed_handover(scene: Scene) -> None:
    scene.giver.store_account()
    accept(scene.receiver, prepare(scene, scene.receiver.keygen()), scene.giver)
    history(scene.giver)  # the giver's computer has now seen the log (and remembers it)
    scene.receiver.ok("handover", "confirm", "--password-changed")


def _log_with(scene: Scene, kind: str) -> Path:
    """The log file holding the entry of ``kind`` (each key writes a file of its own)."""
    [found] = [
        p for p in (scene.share / FOLDER).glob("*.jsonl") if f'"kind":"{kind}"' in p.read_text()
    ]
    return found


def test_each_key_writes_its_own_log_file(scene: Scene) -> None:
    _confirmed_handover(scene)
    files = sorted(p.name for p in (scene.share / FOLDER).glob("*.jsonl"))
    assert len(files) == 2  # the giver's and the receiver's: never a shared file to conflict on
    assert _log_with(scene, "accepted") == _log_with(scene, "password_changed")
    assert _log_with(scene, "prepared") != _log_with(scene, "accepted")


def test_an_edited_log_entry_is_reported_and_removes_nothing(scene: Scene) -> None:
    _confirmed_handover(scene)
    path = _log_with(scene, "prepared")
    path.write_text(path.read_text().replace("Trần Thị Bình", "Trần Thị Bính"), encoding="utf-8")
    assert scene.giver.run_job() == []
    assert "school-mailbox" in scene.giver.vault_names()
    log = history(scene.giver)
    assert log["verified"] is False
    assert any("changed after it was signed" in p for p in log["problems"])  # type: ignore[attr-defined]


def test_a_removed_log_entry_is_reported(scene: Scene) -> None:
    _confirmed_handover(scene)
    path = _log_with(scene, "accepted")
    lines = path.read_text(encoding="utf-8").splitlines()
    del lines[0]  # the "accepted" entry
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    log = history(scene.giver)
    assert log["verified"] is False
    assert any("does not follow" in p for p in log["problems"])  # type: ignore[attr-defined]


def test_a_log_cut_short_is_reported_by_a_computer_that_saw_it_longer(scene: Scene) -> None:
    _confirmed_handover(scene)
    assert history(scene.giver)["verified"] is True  # seen: both files, whole
    path = _log_with(scene, "accepted")
    path.write_text(path.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    log = history(scene.giver)
    assert log["verified"] is False
    assert any("were removed" in p for p in log["problems"])  # type: ignore[attr-defined]
    path.unlink()  # a whole file gone
    log = history(scene.giver)
    assert log["verified"] is False
    assert any("were removed" in p for p in log["problems"])  # type: ignore[attr-defined]


def test_the_log_may_travel_in_any_order(tmp_path: Path, plugin_path: str) -> None:
    """The receiver accepts and confirms before the giver's entry reached its computer; each
    side's entries reach the other later (each computer has its own copy of the share)."""
    giver_share, receiver_share = tmp_path / "share-giver", tmp_path / "share-receiver"
    giver_share.mkdir()
    receiver_share.mkdir()
    giver = Keeper(tmp_path / "giver", giver_share, plugin_path, keeper="Nguyễn Văn An, Giáo viên")
    receiver = Keeper(tmp_path / "receiver", receiver_share, plugin_path)
    scene = Scene(giver, receiver, receiver, giver_share, tmp_path / "out")
    giver.store_account()
    accept(receiver, prepare(scene, receiver.keygen()), giver)
    receiver.ok("handover", "confirm", "--password-changed")
    assert receiver.run_job() == []  # confirmed: no reminder
    assert giver.run_job() == [] and "school-mailbox" in giver.vault_names()

    def carry(source: Path, target: Path) -> None:  # what the sync does for each file
        for path in (source / FOLDER).glob("*.jsonl"):
            (target / FOLDER).mkdir(exist_ok=True)
            (target / FOLDER / path.name).write_bytes(path.read_bytes())

    carry(receiver_share, giver_share)
    carry(giver_share, receiver_share)
    [removed] = giver.run_job()
    assert "school-mailbox" not in giver.vault_names()
    assert "Trần Thị Bình" in removed.body or removed.title
    for keeper in (giver, receiver):
        log = history(keeper)
        assert log["verified"] is True
        [entry] = log["entries"]  # type: ignore[misc]
        assert entry["password_changed_at"] and entry["giver"] == "Nguyễn Văn An, Giáo viên"


def test_a_confirmation_signed_by_another_key_does_not_count(scene: Scene) -> None:
    scene.giver.store_account()
    accept(scene.receiver, prepare(scene, scene.receiver.keygen()), scene.giver)
    # The stranger cannot confirm for the receiver: it has no accepted handover of its own.
    scene.stranger.keygen()
    message = refused(scene.stranger, "handover", "confirm", "--password-changed")
    assert "no accepted handover" in message
    assert scene.giver.run_job() == []
    assert "school-mailbox" in scene.giver.vault_names()


def test_accepting_keeps_an_account_the_receiver_already_had(scene: Scene) -> None:
    scene.giver.store_account()
    key = scene.receiver.keygen()
    scene.receiver.ok(
        "vault", "set", "school-mailbox", "--field", "address=cu@hcm.edu.vn", stdin="cũ-2025\n"
    )
    bundle = prepare(scene, key)
    accept(scene.receiver, bundle, scene.giver)
    names = scene.receiver.vault_names()
    [kept] = [n for n in names if n.startswith("school-mailbox.before-")]
    assert scene.receiver.vault_entry(kept)["fields"]["address"] == "cu@hcm.edu.vn"  # type: ignore[index]
    revealed = scene.receiver.ok("vault", "show", kept, "--reveal")
    assert "cũ-2025" in revealed
    assert scene.receiver.vault_entry("school-mailbox")["fields"]["address"] == ACCOUNT["address"]  # type: ignore[index]


def test_a_backdated_prepared_entry_by_someone_else_takes_nothing_over(scene: Scene) -> None:
    """Anyone with access to the share may sign entries; a "prepared" entry for the same
    bundle, signed by another key and dated earlier, must neither release the giver's copy
    nor hide the real handover."""
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    bundle_id = bundle.name[len("ban-giao-") : -len(".hoso-handover")]
    mallory = HandoverKeys.generate()
    party = {"name": "Kẻ Mạo Danh", "position": "Giáo viên"}
    early = "2000-01-01T00:00:00+00:00"
    data = {"giver": party, "receiver": party, "witness": None,
            "receiver_fingerprint": mallory.public().fingerprint()}  # fmt: skip
    ledger.append(scene.share, mallory, ledger.PREPARED, time=early, bundle=bundle_id, data=data)
    ledger.append(scene.share, mallory, ledger.ACCEPTED, time=early, bundle=bundle_id)
    ledger.append(scene.share, mallory, ledger.PASSWORD_CHANGED, time=early, bundle=bundle_id)
    assert scene.giver.run_job() == []
    assert "school-mailbox" in scene.giver.vault_names()

    accept(scene.receiver, bundle, scene.giver)
    scene.receiver.ok("handover", "confirm", "--password-changed")
    assert [n.title for n in scene.giver.run_job()]
    assert "school-mailbox" not in scene.giver.vault_names()


def test_the_teachers_page_shows_where_a_handover_stands_and_no_secret(scene: Scene) -> None:
    """/handover/ on the teacher's page: the receiver sees the password change to do, the
    giver the copy kept until then; read only (the log is not remembered, no key made)."""
    from webui import Client, served

    from plugins.handover.service import overview
    from plugins.handover.trust import FILE as TRUST

    giver, receiver = scene.giver, scene.receiver
    giver.store_account()
    key = receiver.keygen()
    accept(receiver, prepare(scene, key), giver)
    scene.stranger.root = scene.stranger.home / "HoSo"  # no log, no key
    scene.stranger.root.mkdir(parents=True)
    scene.stranger.write_config()

    mine = overview(configmod.load(receiver.config_path))
    assert mine.holds_mailbox and not mine.handed_over and mine.verified
    assert [h.receiver.label() for h in mine.to_confirm] == [RECEIVER]
    assert mine.fingerprint == key.fingerprint()
    given = overview(configmod.load(giver.config_path))
    assert given.holds_mailbox and given.handed_over and given.to_confirm == []
    assert [h.giver.label() for h in given.handovers] == ["Nguyễn Văn An, Giáo viên"]
    memories = [k.state_dir / name for k in (giver, receiver) for name in (SEEN_FILE, TRUST)]
    before = [m.read_bytes() if m.exists() else None for m in memories]

    for keeper, says in (
        (receiver, "confirm --password-changed"),
        (giver, "keeps its copy until the new keeper confirms"),
        (scene.stranger, "It has no handover key yet"),
    ):
        with served(keeper.config_path, keeper.state_dir) as page:
            client = Client(page.port)
            client.log_in(keeper.state_dir)
            status, _, html = client.request("GET", "/handover/")
        assert status == 200 and says in html, keeper.home.name
        assert PASSWORD not in html and ACCOUNT["recovery"] not in html
    assert [m.read_bytes() if m.exists() else None for m in memories] == before
    assert not (scene.stranger.state_dir / TRUST).exists()
    assert "handover-key" not in scene.stranger.vault_names()
