"""agent.remote against real WebDAV servers (wsgidav, Apache, rclone) and a fault server."""

from __future__ import annotations

import email.utils
import hashlib
import io
import logging
import os
import subprocess
import sys
import threading
import time
import unicodedata
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers import (
    HOSTILE_DEEPER,
    HOSTILE_ROOT_HREFS,
    PASSWORD,
    ROOT,
    Answer,
    CutProxy,
    DavServer,
    FaultServer,
    Share,
    dav_response,
    free_port,
    hostile_listing,
    multistatus,
    wait_until,
)

from agent.config import Secret
from agent.errors import (
    AuthError,
    BadDownload,
    ExitCode,
    LocalError,
    NotFound,
    PreconditionFailed,
    ProtocolError,
    QuotaExceeded,
    RemoteError,
    RemoteLocked,
    Scope,
    UnreachableError,
)
from agent.model import JournalEntry, Kind
from agent.remote import ASSUMED, TEMP_PREFIX, Behaviour, Remote, is_temp_name, normalize_etag

NFD = lambda s: unicodedata.normalize("NFD", s)  # noqa: E731


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def remote(share: Share) -> Iterator[Remote]:
    client = Remote(share.url, share.remote_dir, share.user, Secret(share.password), backoff=0.05)
    client.probe(learn=True)  # as a sync pass does: what the server honours is known
    yield client
    client.close()


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def upload(remote: Remote, source: Path, path: str, expected_etag: str | None = None):
    data = source.read_bytes()
    return remote.upload(
        source,
        path,
        expected_etag=expected_etag,
        sha256=hashlib.sha256(data).hexdigest(),
        mtime_ns=source.stat().st_mtime_ns,
        size=len(data),
    )


def files_on_disk(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


# --- against every real server -------------------------------------------------------------


def test_probe_reports_a_plain_webdav_server(share: Share, remote: Remote) -> None:
    caps = remote.probe()
    assert caps.nextcloud is False
    assert caps.root_fileid is None and caps.data_fingerprint is None
    # Apache's and nginx's PUT is atomic; wsgidav and rclone leave a truncated file when a
    # PUT is cut.
    assert caps.atomic_put is (share.server.kind in ("apache", "nginx", "nginx-anon"))
    assert not caps.root_etag.startswith(("W/", '"'))
    # Without ``learn`` nothing is written: what the fixture's probe learnt is kept, and a
    # Remote that never learnt assumes a standard server.
    assert caps.probed is False and caps.behaviour == OBSERVED[share.server.kind]
    fresh = Remote(share.url, share.remote_dir, share.user, Secret(share.password))
    assert fresh.probe().behaviour == ASSUMED


# What each server was seen to do on this machine (docs/sync.md has the same table).
OBSERVED = {
    "wsgidav": Behaviour(True, True, True, True),
    "apache": Behaviour(True, True, True, False),
    "rclone": Behaviour(True, False, True, True),
    "nginx": Behaviour(False, False, False, False),
    "nginx-anon": Behaviour(False, False, False, False),
}


def test_probe_learns_what_the_server_does_and_leaves_nothing(
    share: Share, remote: Remote
) -> None:
    before = files_on_disk(share.path.parent)

    caps = remote.probe(learn=True)

    print(share.server.kind, caps.behaviour)
    assert caps.probed is True
    assert caps.behaviour == OBSERVED[share.server.kind]
    assert files_on_disk(share.path.parent) == before  # the probe folder is gone
    # Remembered behaviour is taken as it is: no request that writes.
    count = share.server.settled_request_count()
    assert remote.probe(learnt=caps.behaviour).probed is False
    assert share.server.settled_request_count() - count == 1  # the root's PROPFIND only


def test_probe_creates_a_missing_root_only_when_asked(share: Share) -> None:
    nested = f"{share.remote_dir}/Trường Tiểu học/Lớp 3A"
    client = Remote(share.url, nested, share.user, Secret(share.password))
    with pytest.raises(NotFound):
        client.probe()
    assert not (share.path / "Trường Tiểu học").exists()
    client.probe(create=True)
    assert (share.path / "Trường Tiểu học" / "Lớp 3A").is_dir()
    assert client.list_tree() == {}


def test_list_tree_of_a_nested_vietnamese_tree(share: Share, remote: Remote, tmp_path: Path) -> None:
    remote.makedirs("Tuần 1/Kế hoạch bài dạy")
    remote.mkdir("Tuần 2")
    remote.mkdir(".hoso-trash")
    small = write(tmp_path, "a.docx", b"KHBD tuan 1")
    upload(remote, small, "Tuần 1/Kế hoạch bài dạy/Toán.docx")
    upload(remote, small, ".hoso-trash/old.docx")
    # Another client (a Mac) stores the name decomposed; a stale temp upload of ours lies around.
    nfd_name = "Tuần 2/" + NFD("Tiếng Việt.docx")
    assert share.server.request("PUT", f"{share.remote_dir}/{nfd_name}", b"nfd")[0] == 201
    stale = f"Tuần 2/{TEMP_PREFIX}pc-1234.part"
    assert share.server.request("PUT", f"{share.remote_dir}/{stale}", b"partial")[0] == 201

    tree = remote.list_tree()

    assert set(tree) == {
        "Tuần 1",
        "Tuần 1/Kế hoạch bài dạy",
        "Tuần 1/Kế hoạch bài dạy/Toán.docx",
        "Tuần 2",
        "Tuần 2/Tiếng Việt.docx",
    }
    assert all(unicodedata.is_normalized("NFC", p) for p in tree)
    assert tree["Tuần 1"].kind is Kind.DIR
    toan = tree["Tuần 1/Kế hoạch bài dạy/Toán.docx"]
    assert (toan.kind, toan.size) == (Kind.FILE, len(b"KHBD tuan 1")) and toan.mtime
    # nginx lists no ETags (the probe says so); where a server lists them, they are there.
    assert bool(toan.etag) is remote.probe().etags_in_listings
    nfd_entry = tree["Tuần 2/Tiếng Việt.docx"]
    assert nfd_entry.href_path == nfd_name != nfd_entry.path
    assert tree.twins == ()
    # Requests use the server's spelling: the NFD file is read, not recreated as NFC, whether
    # the caller names it by its NFC key or by that spelling; results are keyed NFC.
    for name in ("Tuần 2/Tiếng Việt.docx", nfd_name):
        out = io.BytesIO()
        assert remote.download(name, out, size=len(b"nfd")).path == "Tuần 2/Tiếng Việt.docx"
        assert out.getvalue() == b"nfd"
        assert remote.stat(name).href_path == nfd_name
    assert (share.path / nfd_name).is_file() and not (share.path / "Tuần 2/Tiếng Việt.docx").exists()

    pruned = remote.list_tree(exclude=lambda path, is_dir: is_dir and path.startswith("Tuần 1"))
    assert set(pruned) == {"Tuần 2", "Tuần 2/Tiếng Việt.docx"}


def test_list_tree_reports_normalization_twins(share: Share, remote: Remote) -> None:
    for spelling, body in (("Ảnh.txt", b"nfc"), (NFD("Ảnh.txt"), b"nfd")):
        assert share.server.request("PUT", f"{share.remote_dir}/{spelling}", body)[0] == 201
    for folder in ("Tuần 4", NFD("Tuần 4")):
        assert share.server.request("MKCOL", f"{share.remote_dir}/{folder}/")[0] == 201
        assert share.server.request("PUT", f"{share.remote_dir}/{folder}/{folder}.txt", b"x")[0] == 201
    tree = remote.list_tree()
    assert set(tree) == {"Ảnh.txt", "Tuần 4", "Tuần 4/Tuần 4.txt"}
    assert set(tree.twins) == {
        tuple(sorted(["Ảnh.txt", NFD("Ảnh.txt")])),
        tuple(sorted(["Tuần 4", NFD("Tuần 4")])),
        # Each twin folder was listed under its own spelling: both files are there.
        tuple(sorted(["Tuần 4/Tuần 4.txt", NFD("Tuần 4/Tuần 4.txt")])),
    }


def test_upload_create_and_update_are_conditional(share: Share, remote: Remote, tmp_path: Path) -> None:
    first = write(tmp_path, "v1", b"version 1")
    created = upload(remote, first, "Sổ điểm.xlsx")
    assert created.etag == remote.stat("Sổ điểm.xlsx").etag
    assert (share.path / "Sổ điểm.xlsx").read_bytes() == b"version 1"

    other = write(tmp_path, "other", b"someone else's file")
    if remote.probe().conditional_writes:  # else the pass looks first (agent/propagate.py)
        with pytest.raises(PreconditionFailed):
            upload(remote, other, "Sổ điểm.xlsx")  # a create over an existing file
        assert (share.path / "Sổ điểm.xlsx").read_bytes() == b"version 1"

    second = write(tmp_path, "v2", b"version 2, longer")
    updated = upload(remote, second, "Sổ điểm.xlsx", expected_etag=created.etag)
    assert (share.path / "Sổ điểm.xlsx").read_bytes() == b"version 2, longer"
    assert updated.size == len(b"version 2, longer")
    assert updated.etag == remote.stat("Sổ điểm.xlsx").etag
    if not remote.probe().etags_in_listings:
        return  # nginx: no ETag to be stale; an update is guarded by the pass's re-check
    assert updated.etag != created.etag

    with pytest.raises(PreconditionFailed):
        upload(remote, other, "Sổ điểm.xlsx", expected_etag=created.etag)  # stale etag
    assert (share.path / "Sổ điểm.xlsx").read_bytes() == b"version 2, longer"
    assert not any(n.startswith(TEMP_PREFIX) for n in os.listdir(share.path))


def test_a_created_file_costs_at_most_two_requests(share: Share, remote: Remote, tmp_path: Path) -> None:
    remote.probe()
    sources = [write(tmp_path, f"f{i}", b"lesson plan %d" % i) for i in range(5)]
    before = share.server.settled_request_count()
    for i, source in enumerate(sources):
        upload(remote, source, f"Bài {i}.docx")
    used = share.server.settled_request_count() - before
    assert used <= 2 * len(sources)
    assert len(os.listdir(share.path)) == len(sources)


def test_the_share_password_comes_from_the_environment_else_the_vault(
    share: Share, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent import config
    from agent.vault import Vault, webdav_password

    raw = {"root": str(tmp_path / "records"),
           "remote": {"url": share.url, "remote_dir": share.remote_dir, "user": share.user}}
    cfg = config.from_dict(raw, tmp_path / "agent.toml")
    Vault.open(cfg, create=True).set("webdav", share.password)
    client = Remote.from_config(cfg, webdav_password(cfg))
    assert client.probe().nextcloud is False
    if not share.server.auth:
        return  # a share without a login takes any password
    monkeypatch.setenv(config.PASSWORD_ENV, "wrong")  # the environment wins over the vault
    with pytest.raises(AuthError):
        Remote.from_config(cfg, webdav_password(cfg)).probe()


def test_upload_refuses_a_file_that_changed_size(remote: Remote, tmp_path: Path) -> None:
    source = write(tmp_path, "grew", b"0123456789")
    with pytest.raises(LocalError):
        remote.upload(source, "grew.txt", expected_etag=None, sha256="0", mtime_ns=0, size=5)
    assert remote.stat("grew.txt") is None


def test_upload_refuses_a_file_written_after_it_was_scanned(
    share: Share, remote: Remote, tmp_path: Path
) -> None:
    """Same size, new bytes (a save in place while the upload reads it): the mtime the scan saw
    no longer matches, so the last byte is never sent and nothing lands under the real name."""
    source = write(tmp_path, "rewritten", b"A" * 300_000)
    scanned_ns = source.stat().st_mtime_ns
    source.write_bytes(b"B" * 300_000)
    os.utime(source, ns=(scanned_ns + 1_000_000, scanned_ns + 1_000_000))
    with pytest.raises(LocalError):
        remote.upload(
            source, "Bài soạn.docx", expected_etag=None, sha256="0", mtime_ns=scanned_ns,
            size=300_000,
        )
    assert remote.stat("Bài soạn.docx") is None
    # A server may still be writing the aborted temp upload when we delete it (ours), or hold
    # its own temp file for the aborted PUT (Apache's .davfs.tmp*); the next pass removes ours
    # (tests/test_faults.py). Nothing else may be there.
    left = [p.name for p in share.path.iterdir()]
    assert [n for n in left if not is_temp_name(n) and not n.startswith(".davfs.tmp")] == []


def test_download_is_byte_exact(remote: Remote, tmp_path: Path) -> None:
    data = os.urandom(700_000)
    created = upload(remote, write(tmp_path, "big", data), "Ảnh lớp học.bin")
    out = io.BytesIO()
    entry = remote.download("Ảnh lớp học.bin", out, size=len(data))
    assert out.getvalue() == data
    assert (entry.size, entry.etag) == (len(data), created.etag)
    with pytest.raises(NotFound):
        remote.download("không có.txt", io.BytesIO(), size=0)


def test_mkdir_race_and_existing_folders(share: Share, remote: Remote, tmp_path: Path) -> None:
    barrier = threading.Barrier(2)
    results: list[object] = []

    def make() -> None:
        barrier.wait()
        try:
            results.append(remote.mkdir("Tuần 3"))
        except RemoteError as exc:  # recorded so the assertion below shows it
            results.append(exc)

    threads = [threading.Thread(target=make) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [getattr(r, "kind", r) for r in results] == [Kind.DIR, Kind.DIR]
    assert remote.mkdir("Tuần 3").kind is Kind.DIR
    remote.makedirs("Tuần 3/a/b")
    assert (share.path / "Tuần 3" / "a" / "b").is_dir()
    upload(remote, write(tmp_path, "f", b"x"), "Tuần 3/tệp")
    with pytest.raises(RemoteError):
        remote.mkdir("Tuần 3/tệp")


def test_move_and_delete(share: Share, remote: Remote, tmp_path: Path) -> None:
    remote.makedirs("Cũ/con")
    upload(remote, write(tmp_path, "a", b"a"), "Cũ/con/a.txt")
    upload(remote, write(tmp_path, "b", b"b"), "b.txt")

    remote.move("Cũ", "Mới")
    assert set(remote.list_tree()) == {"Mới", "Mới/con", "Mới/con/a.txt", "b.txt"}
    with pytest.raises(PreconditionFailed):
        remote.move("b.txt", "Mới/con/a.txt")
    assert (share.path / "Mới/con/a.txt").read_bytes() == b"a"
    remote.move("b.txt", "Mới/con/a.txt", overwrite=True)
    assert (share.path / "Mới/con/a.txt").read_bytes() == b"b"

    remote.copy("Mới/con/a.txt", "Bản sao.txt")
    with pytest.raises(PreconditionFailed):
        remote.copy("Mới/con/a.txt", "Bản sao.txt")
    assert (share.path / "Bản sao.txt").read_bytes() == b"b"
    remote.delete("Bản sao.txt")
    remote.delete("Mới/con/a.txt")
    assert remote.stat("Mới/con/a.txt") is None
    remote.delete("Mới")
    assert remote.list_tree() == {}
    with pytest.raises(NotFound):
        remote.delete("Mới")


def test_etags_are_normalised(share: Share, remote: Remote, tmp_path: Path) -> None:
    assert normalize_etag('W/"5-6616179ec1562"') == "5-6616179ec1562"
    assert normalize_etag('"abc"') == normalize_etag("abc") == "abc"
    created = upload(remote, write(tmp_path, "f", b"weak for a second"), "f.txt")
    right_after = remote.stat("f.txt").etag
    # Apache sends W/"…" right after a write and the strong form later: both compare equal.
    raw = lambda: share.server.request("PROPFIND", f"{share.remote_dir}/f.txt", headers={"Depth": "0"})[1]  # noqa: E731
    wait_until(lambda: b'W/"' not in raw(), 5, "the ETag to turn strong")
    assert created.etag == right_after == remote.stat("f.txt").etag
    assert not right_after.startswith(("W/", '"'))


def test_cleanup_temp_files(share: Share, remote: Remote) -> None:
    name = f"{TEMP_PREFIX}pc-dead.part"
    share.server.request("PUT", f"{share.remote_dir}/{name}", b"stale")
    remote.cleanup_temp_files([name, f"{TEMP_PREFIX}gone.part"])
    assert not (share.path / name).exists()


def test_password_never_in_repr(share: Share, remote: Remote) -> None:
    assert share.password not in repr(remote)


def test_unchanged_dirs_are_ignored_without_nextcloud(share: Share, remote: Remote, tmp_path: Path) -> None:
    remote.mkdir("A")
    upload(remote, write(tmp_path, "f", b"x"), "A/new.txt")
    etag = remote.stat("A").etag
    tree = remote.list_tree(unchanged_dirs={"A": etag}, known={})
    assert "A/new.txt" in tree  # plain servers do not propagate ETags: always list below


# --- interrupted uploads on servers whose PUT is not atomic --------------------------------


@pytest.mark.parametrize("kind", [
    "wsgidav",
    pytest.param("rclone", marks=pytest.mark.interop),
    pytest.param("nginx", marks=pytest.mark.interop),  # a direct PUT: nginx's own is atomic
])
def test_cut_off_put_leaves_no_file_under_the_real_name(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: DavServer = request.getfixturevalue(f"{kind}_server")
    folder = f"cut-{kind}-{time.monotonic_ns()}"
    assert server.request("MKCOL", folder + "/")[0] == 201
    proxy = CutProxy(server.port, cut_after=200_000)
    client = Remote(proxy.url, folder, server.user, Secret(server.password), retries=1, backoff=0.01)
    data = os.urandom(2_000_000)
    try:
        with pytest.raises(UnreachableError):
            upload(client, write(tmp_path, "big", data), "Hồ sơ lớn.pdf")
    finally:
        client.close()
        proxy.stop()
    assert proxy.cuts >= 1
    assert not (server.data_dir / folder / "Hồ sơ lớn.pdf").exists()
    if kind == "nginx":  # nothing at all: no temp name was used
        assert list((server.data_dir / folder).iterdir()) == []
    direct = Remote(server.url, folder, server.user, Secret(server.password))
    assert direct.list_tree() == {}  # temp leftovers, if any, are never listed as records
    direct.close()


# --- against the fault server --------------------------------------------------------------



ROOT_OK = Answer(207, {"Content-Type": "application/xml"}, multistatus(dav_response(f"/{ROOT}/", "r", folder=True)))


def fault_remote(fault: FaultServer, **kwargs: object) -> Remote:
    options: dict = {"retries": 2, "backoff": 0.01, **kwargs}
    return Remote(fault.url, ROOT, "giaovien", Secret(PASSWORD), **options)


def test_login_refused_is_an_auth_error_without_the_password(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fault_server.script("PROPFIND", ROOT, Answer(401, {"WWW-Authenticate": 'Basic realm="x"'}))
    client = fault_remote(fault_server)
    with pytest.raises(AuthError) as caught:
        client.probe()
    assert fault_server.received[0].headers["Authorization"].startswith("Basic ")
    assert PASSWORD not in caplog.text
    error = caught.value
    assert error.exit_code is ExitCode.UNREACHABLE
    # Where the password really is: the vault (never the config file).
    assert "hoso vault set webdav" in str(error) and "config file" not in str(error)
    for text in (str(error), repr(error), repr(error.args), repr(client), str(error.__cause__)):
        assert PASSWORD not in text
    assert len(fault_server.requests_for("PROPFIND")) == 1  # a refused login is not retried


def test_propfind_answers_that_cannot_be_trusted(fault_server: FaultServer, tmp_path: Path) -> None:
    secret_file = write(tmp_path, "secret.txt", b"TOP-SECRET-CONTENT")
    bad_answers = {
        "malformed": Answer(207, body=b"<d:multistatus xmlns:d='DAV:'><d:response>"),
        "truncated": Answer(207, body=multistatus(dav_response(f"/{ROOT}/", folder=True))[:120],
                            declared_length=2000),
        "empty 200": Answer(200, body=b""),
        "empty 207": Answer(207, body=b""),
        "html": Answer(207, body=b"<html><body>Login</body></html>"),
        "no self": Answer(207, body=multistatus(dav_response(f"/{ROOT}/x.txt"))),
        "external entity": Answer(207, body=(
            f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file://{secret_file}">]>'
            '<d:multistatus xmlns:d="DAV:"><d:response><d:href>&x;</d:href></d:response>'
            "</d:multistatus>").encode()),
        "entity bomb": Answer(207, body=(
            '<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
            '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><m>&b;</m>').encode()),
    }
    for label, answer in bad_answers.items():
        # The probe gets a sound answer; the listing that follows gets the bad one.
        fault_server.script("PROPFIND", ROOT, ROOT_OK, answer)
        client = fault_remote(fault_server, retries=0)
        with pytest.raises(ProtocolError) as caught:
            client.list_tree()
        assert "TOP-SECRET" not in str(caught.value), label


def test_locked_then_created_is_retried(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.script("PROPFIND", ROOT, ROOT_OK)
    fault_server.script("PUT", f"{ROOT}/a.txt", Answer(423), Answer(201, {"ETag": '"new"'}))
    client = fault_remote(fault_server, atomic_uploads="always")
    entry = upload(client, write(tmp_path, "a", b"abc"), "a.txt")
    assert entry.etag == "new"
    puts = fault_server.requests_for("PUT")
    assert len(puts) == 2 and puts[1].body == b"abc"
    assert puts[0].headers["If-None-Match"] == "*"


def test_locked_for_good_is_remote_locked(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.script("PROPFIND", ROOT, ROOT_OK)
    fault_server.script("PUT", f"{ROOT}/a.txt", Answer(423))
    with pytest.raises(RemoteLocked):
        upload(fault_remote(fault_server, atomic_uploads="always"), write(tmp_path, "a", b"abc"), "a.txt")
    assert len(fault_server.requests_for("PUT")) == 3  # the first try and two retries


@pytest.mark.parametrize("retry_after", ["1", "date"])
def test_unavailable_honours_retry_after(fault_server: FaultServer, retry_after: str) -> None:
    if retry_after == "date":
        retry_after = email.utils.formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1–2 s
    fault_server.script("PROPFIND", ROOT, Answer(503, {"Retry-After": retry_after}), ROOT_OK)
    assert fault_remote(fault_server).probe().root_etag == "r"
    first, second = fault_server.requests_for("PROPFIND")
    assert second.at - first.at >= 0.9


def test_server_errors_after_retries_name_the_status(fault_server: FaultServer) -> None:
    fault_server.script("PROPFIND", ROOT, Answer(500))
    with pytest.raises(RemoteError, match="500"):
        fault_remote(fault_server).probe()
    assert len(fault_server.requests_for("PROPFIND")) == 3


def test_precondition_and_quota(fault_server: FaultServer, tmp_path: Path) -> None:
    fault_server.script("PROPFIND", ROOT, ROOT_OK)
    fault_server.script("PUT", f"{ROOT}/a.txt", Answer(412))
    fault_server.script("PUT", f"{ROOT}/b.txt", Answer(507))
    client = fault_remote(fault_server, atomic_uploads="always")
    source = write(tmp_path, "a", b"abc")
    with pytest.raises(PreconditionFailed):
        upload(client, source, "a.txt")
    with pytest.raises(QuotaExceeded, match="full"):
        upload(client, source, "b.txt")


def test_unreachable_server(tmp_path: Path) -> None:
    client = Remote(f"http://127.0.0.1:{free_port()}/", "", "u", Secret("pw"), retries=1, backoff=0.01)
    with pytest.raises(UnreachableError) as caught:
        client.probe()
    assert caught.value.exit_code is ExitCode.UNREACHABLE


def test_download_without_etag_asks_for_the_state(fault_server: FaultServer) -> None:
    fault_server.script("GET", f"{ROOT}/a.txt", Answer(200, body=b"abc"))
    fault_server.script("PROPFIND", f"{ROOT}/a.txt", Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/a.txt", "from-propfind"))))
    out = io.BytesIO()
    entry = fault_remote(fault_server).download("a.txt", out, size=3)
    assert (out.getvalue(), entry.etag, entry.size) == (b"abc", "from-propfind", 3)


def test_short_download_is_a_protocol_error(fault_server: FaultServer) -> None:
    fault_server.script("GET", f"{ROOT}/a.txt", Answer(200, {"ETag": '"e"'}, b"abc", declared_length=10))
    with pytest.raises(ProtocolError):
        fault_remote(fault_server).download("a.txt", io.BytesIO(), size=10)


def test_nextcloud_upload_and_unchanged_folders(fault_server: FaultServer, tmp_path: Path) -> None:
    oc = "<oc:fileid>42</oc:fileid><oc:data-fingerprint>fp1</oc:data-fingerprint>"
    root = Answer(207, body=multistatus(
        dav_response(f"/{ROOT}/", "r1", folder=True, extra=oc),
        dav_response(f"/{ROOT}/A/", "a1", folder=True, extra="<oc:fileid>43</oc:fileid>"),
    ))
    fault_server.script("PROPFIND", ROOT, root)
    fault_server.script("PUT", f"{ROOT}/A/x.txt", Answer(201, {"ETag": '"x2"', "OC-FileId": "44"}))
    client = fault_remote(fault_server)

    caps = client.probe()
    assert (caps.nextcloud, caps.atomic_put, caps.data_fingerprint, caps.root_fileid) == (True, True, "fp1", "42")
    source = write(tmp_path, "x", b"abc")
    mtime_ns = 1_700_000_000_987_654_321
    os.utime(source, ns=(mtime_ns, mtime_ns))  # the scanned state the upload is checked against
    entry = client.upload(source, "A/x.txt", expected_etag="x1", sha256="ab" * 32, mtime_ns=mtime_ns, size=3)
    put = fault_server.requests_for("PUT")[0]
    assert put.headers["If-Match"] == '"x1"'
    assert put.headers["X-OC-Mtime"] == "1700000000"
    assert put.headers["OC-Checksum"] == "SHA256:" + "ab" * 32
    assert (entry.etag, entry.fileid, entry.checksum) == ("x2", "44", "SHA256:" + "ab" * 32)

    known = {"A/x.txt": JournalEntry("A/x.txt", Kind.FILE, remote_etag="x2", remote_size=3)}
    tree = client.list_tree(unchanged_dirs={"A": "a1"}, known=known)
    assert set(tree) == {"A", "A/x.txt"} and tree["A/x.txt"].etag == "x2"
    assert not [r for r in fault_server.requests_for("PROPFIND") if r.path.rstrip("/") == f"/{ROOT}/A"]


# --- folders are asked for with their slash; only that redirect is followed ---------------------


def test_folders_are_addressed_with_their_slash(
    share: Share, remote: Remote, tmp_path: Path
) -> None:
    remote.makedirs("Tuần 12/Kế hoạch")
    upload(remote, write(tmp_path, "a", b"KHBD"), "Tuần 12/Kế hoạch/Toán.docx")
    assert set(remote.list_tree()) == {"Tuần 12", "Tuần 12/Kế hoạch", "Tuần 12/Kế hoạch/Toán.docx"}
    remote.copy("Tuần 12", "Tuần 13")
    remote.move("Tuần 13/Kế hoạch", "Tuần 13/Đã xong")
    remote.delete("Tuần 12/Kế hoạch")
    assert files_on_disk(share.path) == {
        "Tuần 12", "Tuần 13", "Tuần 13/Đã xong", "Tuần 13/Đã xong/Toán.docx"
    }
    if share.server.kind == "apache":
        # Debian's mod_dir answers 301 to a folder asked without its slash: none was needed.
        assert [line for line, status in share_log(share) if status == "301"] == []


def test_a_folder_asked_without_its_slash_follows_apaches_301(
    share: Share, remote: Remote, tmp_path: Path
) -> None:
    if share.server.kind != "apache":
        pytest.skip("the 301 comes from Apache's mod_dir (Debian's default modules)")
    assert share.server.request("MKCOL", f"{share.remote_dir}/Tuần 12/")[0] == 201
    entry = remote.stat("Tuần 12")  # never listed: its kind is unknown, so no slash is sent
    assert entry is not None and entry.kind is Kind.DIR
    folder = "/" + share.remote_dir + "/Tu%E1%BA%A7n%2012"
    assert share_log(share)[-2:] == [
        (f"PROPFIND {folder} HTTP/1.1", "301"),
        (f"PROPFIND {folder}/ HTTP/1.1", "207"),
    ]
    # From then on the folder is known and asked for with its slash at once.
    remote.delete("Tuần 12")
    assert not (share.path / "Tuần 12").exists()
    # Apache logs a request after answering it: wait for the line rather than race it.
    wait_until(lambda: share_log(share)[-1] == (f"DELETE {folder}/ HTTP/1.1", "204"), 5,
               "Apache to log the DELETE with the folder's slash")
    assert [status for _line, status in share_log(share)].count("301") == 1


def share_log(share: Share) -> list[tuple[str, str]]:
    """(request line, status) of the server's access log lines for this test's folder."""
    lines = share.server._access_log().read_text().splitlines()
    return [
        (line.split('"')[1], line.split('"')[2].split()[0])
        for line in lines
        if f" /{share.remote_dir}/" in line
    ]


def test_only_a_same_origin_slash_redirect_is_followed(fault_server: FaultServer) -> None:
    other = FaultServer().start()
    try:
        here = fault_server.url.rstrip("/")
        moved = lambda to: Answer(301, {"Location": to})  # noqa: E731
        fault_server.script("PROPFIND", f"{ROOT}/A", moved(f"{here}/{ROOT}/A/"))
        fault_server.script("PROPFIND", f"{ROOT}/A/", Answer(207, body=multistatus(
            dav_response(f"/{ROOT}/A/", "a", folder=True))))
        fault_server.script("PROPFIND", f"{ROOT}/B", moved(f"/{ROOT}/B/"))  # relative: fine
        fault_server.script("PROPFIND", f"{ROOT}/B/", Answer(207, body=multistatus(
            dav_response(f"/{ROOT}/B/", "b", folder=True))))
        client = fault_remote(fault_server)
        assert client.stat("A").kind is Kind.DIR and client.stat("B").kind is Kind.DIR
        asked = [r.path for r in fault_server.requests_for("PROPFIND")]
        assert asked == [f"/{ROOT}/A", f"/{ROOT}/A/", f"/{ROOT}/B", f"/{ROOT}/B/"]
        assert all(r.headers["Authorization"].startswith("Basic ") for r in fault_server.received)
        client.stat("A")  # now known as a folder: asked with its slash straight away
        assert fault_server.requests_for("PROPFIND")[-1].path == f"/{ROOT}/A/"

        refused = {
            "another server": f"{other.url}{ROOT}/C/",
            "https": f"https://127.0.0.1:{fault_server.port}/{ROOT}/C/",
            "another name": f"http://localhost:{fault_server.port}/{ROOT}/C/",
            "another path": f"/{ROOT}/elsewhere/",
            "a query": f"/{ROOT}/C/?login=1",
            "credentials": f"http://u:p@127.0.0.1:{fault_server.port}/{ROOT}/C/",
            "no location": "",
        }
        for label, location in refused.items():
            fault_server.received.clear()
            headers = {"Location": location} if location else {}
            fault_server.script("PROPFIND", f"{ROOT}/C", Answer(302, headers))
            with pytest.raises(RemoteError, match="redirect") as caught:
                client.stat("C")
            assert PASSWORD not in str(caught.value), label
            assert len(fault_server.received) == 1, label  # not followed, not retried
        # A slash redirect answered by another redirect is not followed again.
        fault_server.received.clear()
        fault_server.script("PROPFIND", f"{ROOT}/D", moved(f"/{ROOT}/D/"))
        fault_server.script("PROPFIND", f"{ROOT}/D/", moved(f"/{ROOT}/D//"))
        with pytest.raises(RemoteError, match="redirect"):
            client.stat("D")
        assert len(fault_server.received) == 2
        assert other.received == []  # the login never went to the other server
    finally:
        other.stop()


# --- the path gate -------------------------------------------------------------------------

def test_the_path_gate_refuses_every_bad_name_form(fault_server: FaultServer) -> None:
    hostile_listing(fault_server)
    tree = fault_remote(fault_server).list_tree()

    assert set(tree) == {"Tuần 1", "Tuần 1/ok.txt", "%2E%2E", "%2E%2E/x.txt"}
    refused = {item.path: item.reason for item in tree.refused}
    assert set(refused) == set(HOSTILE_ROOT_HREFS.values()) | HOSTILE_DEEPER
    assert "empty, . or .." in refused[".."] and "empty, . or .." in refused["/evil.txt"]
    assert "/ or \\" in refused["a%2Fb.txt"] and "/ or \\" in refused["..\\..\\evil.txt"]
    assert "control character" in refused["esc\x1b[2J.txt"]
    assert "control character" in refused["csi\x9b31m.txt"]
    assert "UTF-8" in refused["latin1%FF.txt"]
    assert "not in the folder" in refused["Tuần 1/deep.txt"]
    assert "outside the records folder" in refused["/other/evil.txt"]
    # Refused folders are never listed; the double-encoded one is just a name.
    asked = {r.path.rstrip("/") for r in fault_server.requests_for("PROPFIND")}
    assert asked == {f"/{ROOT}", f"/{ROOT}/Tuần 1", f"/{ROOT}/%2E%2E"}


# --- limits ----------------------------------------------------------------------------------


def endless(chunk: bytes, total: int) -> Callable[[], Iterator[bytes]]:
    """A body of ``total`` bytes made on the fly, never held in memory."""

    def generate() -> Iterator[bytes]:
        for _ in range(total // len(chunk)):
            yield chunk

    return generate


def test_a_download_stops_at_the_listed_size(fault_server: FaultServer) -> None:
    client = fault_remote(fault_server)
    fault_server.script("GET", f"{ROOT}/exact.txt", Answer(200, {"ETag": '"e"'}, b"abc"))
    out = io.BytesIO()
    assert client.download("exact.txt", out, size=3).size == 3 and out.getvalue() == b"abc"

    # The announced length disagrees with the listing: nothing is read.
    fault_server.script("GET", f"{ROOT}/long.txt", Answer(200, {"ETag": '"e"'}, b"x" * 10))
    fault_server.script("GET", f"{ROOT}/short.txt", Answer(200, {"ETag": '"e"'}, b"ab"))
    for name in ("long.txt", "short.txt"):
        out = io.BytesIO()
        with pytest.raises(BadDownload) as caught:
            client.download(name, out, size=3)
        assert caught.value.scope is Scope.FILE and out.getvalue() == b""
        assert "listed" in str(caught.value)

    # No length announced, 200 MB sent: reading stops at the listed size.
    flood = Answer(200, {"ETag": '"e"'}, stream=endless(b"A" * 65536, 200 * 2**20))
    fault_server.script("GET", f"{ROOT}/flood.txt", flood)
    out = io.BytesIO()
    with pytest.raises(BadDownload):
        client.download("flood.txt", out, size=3)
    assert out.getvalue() == b""
    wait_until(lambda: flood.sent, 10, "the server to notice the hang-up")
    assert flood.sent[0] < 32 * 2**20


def huge_multistatus(total: int) -> Callable[[], Iterator[bytes]]:
    head = multistatus(dav_response(f"/{ROOT}/", "r", folder=True))[: -len(b"</d:multistatus>")]
    entries = "".join(dav_response(f"/{ROOT}/f{n:04d}.txt", f"e{n}") for n in range(200)).encode()

    def generate() -> Iterator[bytes]:
        yield head
        for _ in range(total // len(entries)):
            yield entries

    return generate


def gzipped(body: Callable[[], Iterator[bytes]]) -> Callable[[], Iterator[bytes]]:
    """``body`` gzip-compressed on the fly."""

    def generate() -> Iterator[bytes]:
        packer = zlib.compressobj(wbits=31)
        for chunk in body():
            if packed := packer.compress(chunk):
                yield packed
        yield packer.flush()

    return generate


# VmHWM, not ru_maxrss: the latter carries over the high-water mark of the forked pytest process.
RSS_PROBE = """
import re, sys
from agent.config import Secret
from agent.errors import ProtocolError
from agent.remote import Remote
client = Remote(sys.argv[1], "dav", "giaovien", Secret("pw"), retries=0)
try:
    client.list_tree()
except ProtocolError as exc:
    print(str(exc))
status = open("/proc/self/status").read()
print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024)
"""


def test_a_huge_listing_is_refused_without_reading_it(fault_server: FaultServer) -> None:
    # 300 MB of listing, made while it is sent: refused at the default cap (64 MiB).
    huge = Answer(207, stream=huge_multistatus(300 * 2**20))
    fault_server.script("PROPFIND", ROOT, ROOT_OK, huge)
    probe = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, fault_server.url],
        capture_output=True, text=True, timeout=120, check=True,
    )
    message, rss_mb = probe.stdout.strip().rsplit("\n", 1)
    assert "max_listing_bytes" in message, probe.stdout + probe.stderr
    wait_until(lambda: huge.sent, 10, "the server to notice the hang-up")
    assert huge.sent[0] < 100 * 2**20  # the rest was never read
    assert int(rss_mb) < 200, f"peak RSS {rss_mb} MB"  # was 2.5 GB for such an answer

    # The same answer gzip-compressed (about 1 MB on the wire): the cap counts what it
    # inflates to, and inflating is bounded per chunk.
    fault_server.received.clear()
    bomb = Answer(207, {"Content-Encoding": "gzip"}, stream=gzipped(huge_multistatus(300 * 2**20)))
    fault_server.script("PROPFIND", ROOT, ROOT_OK, bomb)
    probe = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, fault_server.url],
        capture_output=True, text=True, timeout=120, check=True,
    )
    message, rss_mb = probe.stdout.strip().rsplit("\n", 1)
    assert "max_listing_bytes" in message, probe.stdout + probe.stderr
    assert int(rss_mb) < 200, f"peak RSS {rss_mb} MB"

    # An announced length past the cap is refused before a byte of the body is read.
    fault_server.received.clear()
    announced = Answer(207, declared_length=300 * 2**20, stream=huge_multistatus(300 * 2**20))
    fault_server.script("PROPFIND", ROOT, announced)
    with pytest.raises(ProtocolError, match="max_listing_bytes"):
        fault_remote(fault_server, retries=0, max_listing_bytes=2**20).probe()
    wait_until(lambda: announced.sent, 10, "the server to notice the hang-up")
    assert announced.sent[0] < 32 * 2**20


# --- what the share confirmed ------------------------------------------------------------------


def test_an_upload_returns_only_the_etag_the_server_gave(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    fault_server.script("PROPFIND", ROOT, ROOT_OK)
    fault_server.script("PUT", f"{ROOT}/a.txt", Answer(201))  # no ETag in the answer
    fault_server.script("PUT", f"{ROOT}/b.txt", Answer(201, {"ETag": 'W/"b1"'}))
    client = fault_remote(fault_server, atomic_uploads="always")
    source = write(tmp_path, "a", b"abc")
    data = {"sha256": "00" * 32, "mtime_ns": source.stat().st_mtime_ns, "size": 3}
    unconfirmed = client.upload(source, "a.txt", expected_etag=None, learn_state=False, **data)
    assert unconfirmed.etag == ""  # nothing invented: the caller must see it listed
    confirmed = client.upload(source, "b.txt", expected_etag=None, learn_state=False, **data)
    assert confirmed.etag == "b1"
