"""Whose entries count in the handover log, and the receiver's fingerprint check at accept.

Same stage as test_handover.py (keepers with configs of their own around one shared folder,
the real `hoso` CLI in a subprocess). The forger writes into the shared folder with keys of
their own, as anyone who can write to the share can.
"""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest
import test_handover as stage
from agents import REPO, hoso_command, hoso_env
from test_handover import PASSWORD, RECEIVER, Keeper, Scene, accept, history, prepare

from agent.config import Secret
from plugins.handover import ledger, trust
from plugins.handover.bundle import Account, Party, new_id, seal_bundle
from plugins.handover.keys import HandoverKeys, PublicKey
from plugins.handover.ledger import FOLDER

plugin_path = stage.plugin_path  # the stage's fixtures
scene = stage.scene

GIVER_NAME = "Nguyễn Văn An"
THIRD = "Phạm Văn Dũng, Giáo viên"
FORGER = {"name": "Kẻ Mạo Danh", "position": "Giáo viên"}
BACKDATED = "2020-01-06T08:00:00+07:00"


def forge_chain(share: Path, *, to: PublicKey | None = None) -> tuple[HandoverKeys, HandoverKeys]:
    """A complete, backdated handover signed with two fresh keys (every link and signature
    holds); ``to``: the forger's "prepared" names that key instead of the accomplice's."""
    forger, accomplice = HandoverKeys.generate(), HandoverKeys.generate()
    receiver = to or accomplice.public()
    data = {"giver": FORGER, "receiver": FORGER, "witness": None,
            "receiver_fingerprint": receiver.fingerprint()}  # fmt: skip
    ledger.append(share, forger, ledger.PREPARED, time=BACKDATED, bundle="f" * 32, data=data)
    ledger.append(share, accomplice, ledger.ACCEPTED, time=BACKDATED, bundle="f" * 32)
    ledger.append(share, accomplice, ledger.PASSWORD_CHANGED, time=BACKDATED, bundle="f" * 32)
    return forger, accomplice


def file_of(key: HandoverKeys) -> str:
    return ledger.log_path(Path("/"), key.public()).name


def log_entries(share: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in (share / FOLDER).glob("*.jsonl"))


def handed_over(scene: Scene, *keepers: Keeper) -> PublicKey:
    """The giver hands the mailbox to the receiver, who confirms the password change; with
    ``keepers``, the giver's key is pinned in their configs first. The giver's key."""
    scene.giver.store_account()
    key = scene.giver.keygen()
    for keeper in keepers:
        keeper.pin(GIVER_NAME, key.fingerprint())
    accepted = accept(scene.receiver, prepare(scene, scene.receiver.keygen()), scene.giver)
    pinned = f"pinned in the config as {GIVER_NAME}'s keeper key"
    assert (pinned in accepted) == (scene.receiver in keepers)
    scene.receiver.ok("handover", "confirm", "--password-changed")
    return key


# --- a forged log --------------------------------------------------------------------------------


def test_a_forged_backdated_chain_signed_with_fresh_keys_does_not_verify(scene: Scene) -> None:
    principal = scene.stranger  # reads the log; holds no key
    giver_key = handed_over(scene, scene.giver, scene.receiver, principal)
    forger, accomplice = forge_chain(scene.share)

    done = principal.hoso("handover", "history", "--json")
    log = json.loads(done.stdout)
    assert done.returncode == 1 and log["verified"] is False
    [entry] = log["entries"]  # the forged handover is not among them
    assert entry["receiver"] == RECEIVER and entry["giver"].startswith(GIVER_NAME)
    [prepared] = [p for p in log["problems"] if file_of(forger) in p]
    assert "entry 1 (prepared, 2020-01-06" in prepared
    assert forger.public().fingerprint() in prepared and "not a known keeper key" in prepared
    assert sum(accomplice.public().fingerprint() in p for p in log["problems"]) == 2
    assert {k["fingerprint"]: k["how"] for k in log["keys"]} == {
        giver_key.fingerprint(): "pinned",
        scene.receiver.keygen().fingerprint(): "handed_on",
    }

    text = principal.hoso("handover", "history")
    assert text.returncode == 1
    assert "not a known keeper key" in text.stdout and "does NOT verify" in text.stdout
    assert "Kẻ Mạo Danh" not in text.stdout and "verifies." not in text.stdout
    [note] = json.loads(scene.receiver.ok("status", "--json"))["plugin_notes"]  # keepers hear it
    assert "does not verify (3 problems)" in note["text"] and "history" in note["text"]
    # The forgery confirms nothing, and hides nothing: the real handover still completes.
    [removed] = scene.giver.run_job()
    assert "school-mailbox" not in scene.giver.vault_names()
    assert RECEIVER.split(",")[0] in removed.body


def test_without_a_pinned_key_the_first_reading_decides_and_warns(scene: Scene) -> None:
    principal = scene.stranger
    giver_key = handed_over(scene)
    first = principal.hoso("handover", "history", "--json")
    assert first.returncode == 0 and json.loads(first.stdout)["verified"] is True
    assert giver_key.fingerprint() in first.stderr and "[[school.keepers]]" in first.stderr
    keys = {k["fingerprint"]: k["how"] for k in json.loads(first.stdout)["keys"]}
    assert keys[giver_key.fingerprint()] == "first_use"
    assert "pin" in principal.ok("handover", "history").lower()  # said again each time

    # A forger who names the first keeper's key as their receiver, to pass as the first
    # keeper themselves, comes too late: this computer chose at its first reading.
    forger, _accomplice = forge_chain(scene.share, to=giver_key)
    log = history(principal)
    assert log["verified"] is False
    assert any(forger.public().fingerprint() in p for p in log["problems"])  # type: ignore[attr-defined]
    assert [e["receiver"] for e in log["entries"]] == [RECEIVER]  # type: ignore[union-attr]


def test_a_computer_that_first_reads_a_forged_log_trusts_nobody_and_says_to_pin(
    tmp_path: Path, scene: Scene
) -> None:
    handed_over(scene)
    forge_chain(scene.share)  # unrelated keys: which chain is the school's cannot be told
    late = Keeper(tmp_path / "late", scene.share, scene.giver.plugin_path)
    log = history(late)
    assert log["verified"] is False and log["entries"] == []
    assert any("[[school.keepers]]" in p for p in log["problems"])  # type: ignore[attr-defined]
    assert history(late)["verified"] is False  # and it never picks one later


def test_a_legitimate_chain_from_a_pinned_key_through_two_handovers_verifies(
    tmp_path: Path, scene: Scene
) -> None:
    first, second, third = scene.giver, scene.receiver, scene.stranger
    principal = Keeper(tmp_path / "principal", scene.share, first.plugin_path)
    handed_over(scene, first, second, third, principal)
    # The second keeper hands on to the third; only the first keeper's key is pinned.
    second_key = second.keygen()
    printed = second.ok(
        "handover", "prepare", "--to", third.keygen().text(), "--receiver", THIRD,
        "--giver", RECEIVER, "--out", str(tmp_path / "out2"),
    )  # fmt: skip
    [bundle] = [Path(line.split(": ", 1)[1]) for line in printed.splitlines() if "bundle:" in line]
    accepted = third.ok(
        "handover", "accept", str(bundle), "--fingerprint", second_key.fingerprint()
    )
    assert "already knows this key" in accepted  # handed on by the pinned keeper
    third.ok("handover", "confirm", "--password-changed")
    [removed] = second.run_job()
    assert "school-mailbox" not in second.vault_names()
    assert "school-mailbox" in third.vault_names()

    for reader in (principal, first, third):
        log = history(reader)
        assert log["verified"] is True and log["problems"] == []
        assert [(e["giver"], e["receiver"]) for e in log["entries"]] == [  # type: ignore[union-attr]
            (f"{GIVER_NAME}, Giáo viên", RECEIVER),
            (RECEIVER, THIRD),
        ]
        assert all(e["password_changed_at"] for e in log["entries"])  # type: ignore[union-attr]
    keys = json.loads(principal.ok("handover", "history", "--json"))["keys"]
    assert sorted(k["how"] for k in keys) == ["handed_on", "handed_on", "pinned"]
    assert [k["name"] for k in keys if k["how"] == "pinned"] == [GIVER_NAME]


# --- accept: nothing is imported before the fingerprint is confirmed -----------------------------


def vault_bytes(keeper: Keeper) -> bytes:
    return keeper.config_path.with_name("agent.vault").read_bytes()


def test_accept_without_a_confirmation_imports_nothing(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    before = vault_bytes(scene.receiver)
    done = scene.receiver.hoso("handover", "accept", str(bundle))  # no terminal, no option
    assert done.returncode == 2, done.stderr
    assert scene.giver.keygen().fingerprint() in done.stdout  # shown, for the comparison
    assert "--fingerprint" in done.stderr and "Nothing was imported" in done.stderr
    assert vault_bytes(scene.receiver) == before
    assert scene.receiver.vault_names() == ["handover-key"]
    assert '"accepted"' not in log_entries(scene.share)
    assert not (scene.receiver.state_dir / trust.FILE).exists()  # the giver's key not trusted


def test_accept_with_the_wrong_fingerprint_is_a_safety_stop(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    impostor = HandoverKeys.generate().public().fingerprint()
    before = vault_bytes(scene.receiver)
    done = scene.receiver.hoso("handover", "accept", str(bundle), "--fingerprint", impostor)
    assert done.returncode == 4, done.stderr
    assert impostor in done.stderr and "Nothing was imported" in done.stderr
    not_one = scene.receiver.hoso("handover", "accept", str(bundle), "--fingerprint", "ABCD-1")
    assert not_one.returncode == 2 and "not a key fingerprint" in not_one.stderr
    assert vault_bytes(scene.receiver) == before
    assert "school-mailbox" not in scene.receiver.vault_names()
    assert '"accepted"' not in log_entries(scene.share)


def test_accept_with_the_right_fingerprint_imports_it_as_read_out(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    spoken = scene.giver.keygen().fingerprint().replace("-", " ").lower()  # retyped by ear
    done = scene.receiver.ok("handover", "accept", str(bundle), "--fingerprint", spoken)
    assert "fingerprint matches" in done
    shown = scene.receiver.ok("vault", "show", "school-mailbox", "--reveal")
    assert f"secret: {PASSWORD}" in shown
    assert '"accepted"' in log_entries(scene.share)


def run_at_terminal(
    keeper: Keeper, *args: str, typed: str, prompt: bytes = b"type it here"
) -> tuple[int, str]:
    """``hoso ARGS`` with a terminal as its stdin: waits for ``prompt``, types ``typed``."""
    main, child = pty.openpty()
    env = {
        "XDG_CONFIG_HOME": str(keeper.home / "config"),
        "XDG_STATE_HOME": str(keeper.home / "state"),
        "XDG_DATA_HOME": str(keeper.home / "data"),
        "PYTHONPATH": f"{REPO}:{keeper.plugin_path}" if keeper.plugin_path else str(REPO),
    }
    process = subprocess.Popen(
        hoso_command("--config", str(keeper.config_path), *args),
        stdin=child, stdout=child, stderr=child, env=hoso_env(env), cwd=keeper.home,
    )  # fmt: skip
    os.close(child)
    seen, deadline = b"", time.monotonic() + 60
    while prompt not in seen and time.monotonic() < deadline:
        if select.select([main], [], [], 1)[0]:
            seen += os.read(main, 4096)
    os.write(main, typed.encode() + b"\n")
    while process.poll() is None or select.select([main], [], [], 0.2)[0]:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        seen += chunk
    os.close(main)
    return process.wait(timeout=60), seen.decode("utf-8", "replace")


def test_accept_at_a_terminal_asks_for_the_fingerprint(scene: Scene) -> None:
    scene.giver.store_account()
    bundle = prepare(scene, scene.receiver.keygen())
    wrong = HandoverKeys.generate().public().fingerprint()
    code, said = run_at_terminal(scene.receiver, "handover", "accept", str(bundle), typed=wrong)
    assert code == 4, said
    assert "school-mailbox" not in scene.receiver.vault_names()
    right = scene.giver.keygen().fingerprint()
    code, said = run_at_terminal(scene.receiver, "handover", "accept", str(bundle), typed=right)
    assert code == 0, said
    assert right in said and "fingerprint matches" in said
    assert "school-mailbox" in scene.receiver.vault_names()


# --- the config and the rule itself --------------------------------------------------------------


def test_a_pinned_key_that_is_not_a_fingerprint_is_a_config_error(scene: Scene) -> None:
    keeper = scene.giver
    keeper.pin(GIVER_NAME, scene.receiver.keygen().fingerprint())
    roles = json.loads(keeper.ok("roles", "--json"))
    assert roles["school"]["keepers"] == [
        {"name": GIVER_NAME, "key": scene.receiver.keygen().fingerprint()}
    ]
    keeper.pin("Ai Đó", "hoso1:ABCDEFG")
    done = keeper.hoso("handover", "history")
    assert done.returncode == 2 and "school.keepers[1].key" in done.stderr
    assert not (scene.share / FOLDER).exists()


def entry(author: HandoverKeys, kind: str, receiver: PublicKey | None = None) -> ledger.Entry:
    data = {"receiver_fingerprint": receiver.fingerprint()} if receiver else {}
    return ledger.Entry("f.jsonl", 1, kind, BACKDATED, "b" * 32, data, author.public())


@pytest.mark.parametrize("handed_back", [False, True])
def test_trust_passes_on_only_through_prepared_entries_of_known_keys(handed_back: bool) -> None:
    a, b, c, m = (HandoverKeys.generate() for _ in range(4))
    fp = {name: key.public().fingerprint() for name, key in zip("abcm", (a, b, c, m), strict=True)}
    entries = [
        entry(a, ledger.PREPARED, b.public()),
        entry(b, ledger.PREPARED, c.public()),
        entry(c, ledger.ACCEPTED),
        entry(m, ledger.PREPARED, a.public()),  # a forger naming the first keeper
    ]
    assert set(trust.reach(entries, {fp["a"]: trust.PINNED})) == {fp["a"], fp["b"], fp["c"]}
    assert set(trust.reach(entries, {fp["c"]: trust.OWN})) == {fp["c"]}  # never backwards
    assert trust.first_use_root(entries) == fp["m"]  # why first use is decided early, once
    assert trust.first_use_root(entries[:3]) == fp["a"]
    if handed_back:  # c hands the mailbox back to a: every one of them reaches all
        looped = [*entries[:3], entry(c, ledger.PREPARED, a.public())]
        assert trust.first_use_root(looped) == min(fp["a"], fp["b"], fp["c"])
    assert trust.first_use_root([entries[0], entry(m, ledger.PREPARED, c.public())]) is None


def test_a_log_of_an_earlier_version_still_verifies_from_its_pinned_keeper(
    tmp_path: Path, scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Earlier versions kept one shared file (``nhat-ky-ban-giao.jsonl``), chained across
    keepers, and their "accepted" entries carried no details."""
    giver, receiver = HandoverKeys.generate(), HandoverKeys.generate()
    monkeypatch.setattr(ledger, "log_path", lambda root, author=None: root / FOLDER / ledger.FILE)
    data = {"giver": {"name": GIVER_NAME, "position": "Văn thư"}, "witness": None,
            "receiver": {"name": "Trần Thị Bình", "position": "Giáo viên"},
            "receiver_fingerprint": receiver.public().fingerprint()}  # fmt: skip
    when = "2025-09-08T10:00:00+07:00"
    ledger.append(scene.share, giver, ledger.PREPARED, time=when, bundle="a" * 32, data=data)
    ledger.append(scene.share, receiver, ledger.ACCEPTED, time=when, bundle="a" * 32)
    ledger.append(scene.share, receiver, ledger.PASSWORD_CHANGED, time=when, bundle="a" * 32)
    assert [p.name for p in (scene.share / FOLDER).iterdir()] == [ledger.FILE]
    principal = scene.stranger
    principal.pin(GIVER_NAME, giver.public().fingerprint())
    log = history(principal)
    assert log["verified"] is True
    [entry] = log["entries"]  # type: ignore[misc]
    assert entry["receiver"] == "Trần Thị Bình, Giáo viên" and entry["password_changed_at"] == when


def test_a_damaged_memory_of_trusted_keys_trusts_nothing_more(scene: Scene) -> None:
    principal = scene.stranger
    handed_over(scene)
    memory = principal.state_dir / trust.FILE
    memory.parent.mkdir(parents=True)
    memory.write_text('{"keys": {"not a fingerprint": "accepted"}, "first_read": false}')
    log = history(principal)
    assert log["verified"] is False and log["entries"] == []
    assert any("is damaged" in p for p in log["problems"])  # type: ignore[attr-defined]
    assert memory.read_text().startswith('{"keys": {"not')  # left as found, for a person to see


CONTROLS = "An\x1b[8m\x1b]0;pwned\x07\x9b2J"  # hide what follows, retitle, clear


def test_a_crafted_bundles_giver_name_is_shown_escaped(scene: Scene) -> None:
    """A bundle is read before its giver is known: anyone who has the receiver's public key
    can seal one, naming the giver as they like. ESC [8m in the name would hide the real
    fingerprint printed after it; the terminal sees it escaped, and the check still holds."""
    forger = HandoverKeys.generate()
    receiver = scene.receiver.keygen()
    account = Account(**stage.ACCOUNT, password=Secret("pw-of-the-forger"))
    data = seal_bundle(
        bundle_id=new_id(), created="2026-11-20T08:00:00+07:00", account=account, notes={},
        giver=Party(f"{CONTROLS} AAAA-BBBB-CCCC-DDDD", "Giáo viên"), giver_keys=forger,
        receiver=receiver,
    )  # fmt: skip
    bundle = scene.out / "crafted.hoso-handover"
    bundle.parent.mkdir(parents=True, exist_ok=True)
    bundle.write_bytes(data)
    before = vault_bytes(scene.receiver)

    done = scene.receiver.hoso("handover", "accept", str(bundle))  # no terminal: shown, refused

    assert done.returncode == 2, done.stderr
    shown = done.stdout + done.stderr
    assert not any(c in shown for c in "\x1b\x07\x9b"), repr(shown)
    assert "An\\x1b[8m\\x1b]0;pwned\\x07\\u009b2J AAAA-BBBB-CCCC-DDDD, Giáo viên" in done.stdout
    assert forger.public().fingerprint() in done.stdout
    assert vault_bytes(scene.receiver) == before


def test_names_with_control_characters_are_refused_before_anything_is_sealed(
    scene: Scene,
) -> None:
    scene.giver.store_account()
    key = scene.receiver.keygen()
    typed = scene.giver.hoso(
        "handover", "prepare", "--to", key.text(), "--receiver", f"{CONTROLS}, Giáo viên",
        "--out", str(scene.out),
    )  # fmt: skip
    assert typed.returncode == 2, typed.stderr
    assert "--receiver holds a control character" in typed.stderr
    # The same name in the config (as TOML escapes): a config error, not a crash.
    scene.giver.keeper = f"{CONTROLS}, Giáo viên"
    scene.giver.write_config()
    config = scene.giver.config_path.read_text(encoding="utf-8")
    escaped = "".join(f"\\u{ord(c):04x}" if c in "\x1b\x07\x9b" else c for c in config)
    scene.giver.config_path.write_text(escaped, encoding="utf-8")
    configured = scene.giver.hoso(
        "handover", "prepare", "--to", key.text(), "--receiver", stage.RECEIVER,
        "--out", str(scene.out),
    )  # fmt: skip
    assert configured.returncode == 2, configured.stderr
    assert "school.mailbox_keeper.name" in configured.stderr
    assert "control character" in configured.stderr
    assert not scene.out.exists() or list(scene.out.iterdir()) == []
    assert '"prepared"' not in log_entries(scene.share)
