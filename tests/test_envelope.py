"""The one envelope (agent/envelope.py): every way sealed data can fail to open is refused
with the one error, and no kind passes for another.

The formats built on it have their own known-answer vectors (tests/backup_vectors,
tests/vault_vectors, tests/handover_vectors): those prove that what hoso wrote before the
envelope existed still opens.
"""

from __future__ import annotations

import itertools
import os
import unicodedata

import pytest

from agent import envelope
from agent.envelope import (
    BACKUP_KEY_SLOT,
    HANDOVER_BUNDLE,
    KINDS,
    VAULT,
    VAULT_KEY,
    KdfParams,
    Sealed,
    SealingKey,
    framed_kind,
    open_framed,
    open_sealed,
    seal,
    seal_framed,
)
from agent.errors import CannotOpen, EnvelopeNewer, ExitCode, HosoError

KEY = SealingKey(bytes(range(32)))
OTHER_KEY = SealingKey(bytes(range(1, 33)))
PLAIN = "Mật khẩu hộp thư của trường: Hoà-Bình-2026".encode()
HEADER = b'{"format":"hoso-vault","key":{"kdf":null,"source":"file"},"version":1}'
INDEX = framed_kind(b"i")
SNAPSHOT = framed_kind(b"s")


def test_sealed_and_framed_envelopes_open_with_their_key_kind_and_header() -> None:
    assert open_sealed(KEY, VAULT, seal(KEY, VAULT, PLAIN, HEADER), HEADER) == PLAIN
    data = seal_framed(KEY, INDEX, PLAIN, b"repo-id|index")
    assert data[:6] == b"HOSO\x01i" == INDEX.label
    assert len(data) == envelope.FRAME_OVERHEAD + len(PLAIN)
    assert open_framed(KEY, INDEX, data, b"repo-id|index") == PLAIN
    assert open_sealed(KEY, VAULT_KEY, seal(KEY, VAULT_KEY, b"")) == b""


def test_every_seal_draws_a_fresh_nonce() -> None:
    assert len({seal(KEY, VAULT, b"same", HEADER).nonce for _ in range(64)}) == 64
    assert len({seal_framed(KEY, INDEX, b"same")[6:18] for _ in range(64)}) == 64


# --- refusals: each one is a CannotOpen -----------------------------------------------------


def refused(call: object, *args: object) -> CannotOpen:
    with pytest.raises(CannotOpen) as caught:
        call(*args)  # type: ignore[operator]
    assert isinstance(caught.value, HosoError) and caught.value.problem
    if not isinstance(caught.value, EnvelopeNewer):
        assert caught.value.exit_code == ExitCode.PARTIAL  # damage: "restore it from a copy"
    return caught.value


@pytest.mark.parametrize(
    "header",
    [
        HEADER.replace(b'"file"', b'"keyring"'),  # a swapped key source
        HEADER[:-1],  # one byte short
        HEADER + b" ",  # one byte more
        b"",
    ],
)
def test_a_tampered_header_is_refused(header: bytes) -> None:
    sealed = seal(KEY, VAULT, PLAIN, HEADER)
    refused(open_sealed, KEY, VAULT, sealed, header)
    data = seal_framed(KEY, INDEX, PLAIN, HEADER)
    refused(open_framed, KEY, INDEX, data, header)


def test_a_vault_envelope_never_opens_as_a_backup_one_nor_the_reverse() -> None:
    vault = seal(KEY, VAULT, PLAIN, HEADER)
    # The same nonce and ciphertext dressed as a backup index: its associated data differs.
    refused(open_framed, KEY, INDEX, INDEX.label + vault.nonce + vault.ciphertext, HEADER)
    backup = seal_framed(KEY, INDEX, PLAIN, HEADER)
    as_sealed = Sealed(backup[6:18], backup[18:])
    for kind in KINDS:
        refused(open_sealed, KEY, kind, as_sealed, HEADER)


@pytest.mark.parametrize(
    ("sealed_as", "opened_as"),
    [
        (VAULT, VAULT_KEY),
        (VAULT_KEY, VAULT),
        (BACKUP_KEY_SLOT, VAULT_KEY),
        (VAULT, HANDOVER_BUNDLE),
        (HANDOVER_BUNDLE, VAULT),
    ],
)
def test_a_wrong_kind_is_refused(sealed_as: envelope.Kind, opened_as: envelope.Kind) -> None:
    sealed = seal(KEY, sealed_as, PLAIN, HEADER)
    refused(open_sealed, KEY, opened_as, sealed, HEADER)


def test_a_framed_envelope_of_another_kind_is_refused_before_any_key_work() -> None:
    data = seal_framed(KEY, SNAPSHOT, PLAIN, b"snapshots")
    error = refused(open_framed, KEY, INDEX, data, b"snapshots")
    assert error.problem == "its header is wrong"
    # Even when the kind byte is set right, the tag still names the kind it was sealed as.
    relabelled = INDEX.label + data[6:]
    assert "authentication" in refused(open_framed, KEY, INDEX, relabelled, b"snapshots").problem


def test_a_wrong_key_is_refused() -> None:
    refused(open_sealed, OTHER_KEY, VAULT, seal(KEY, VAULT, PLAIN, HEADER), HEADER)
    refused(open_framed, OTHER_KEY, INDEX, seal_framed(KEY, INDEX, PLAIN))


def test_a_sealed_envelope_truncated_anywhere_is_refused() -> None:
    sealed = seal(KEY, VAULT, PLAIN, HEADER)
    for length in range(len(sealed.ciphertext)):
        refused(open_sealed, KEY, VAULT, Sealed(sealed.nonce, sealed.ciphertext[:length]), HEADER)
    for length in range(len(sealed.nonce)):
        refused(open_sealed, KEY, VAULT, Sealed(sealed.nonce[:length], sealed.ciphertext), HEADER)


def test_a_framed_envelope_truncated_anywhere_is_refused() -> None:
    data = seal_framed(KEY, INDEX, PLAIN)
    for length in range(len(data)):
        refused(open_framed, KEY, INDEX, data[:length])


@pytest.mark.parametrize("position", [0, 3, 5, 6, 17, 18, -17, -16, -1])
def test_a_flipped_bit_anywhere_in_a_framed_envelope_is_refused(position: int) -> None:
    data = bytearray(seal_framed(KEY, INDEX, PLAIN))
    data[position] ^= 0x01
    refused(open_framed, KEY, INDEX, bytes(data))


def test_a_newer_framed_envelope_says_so_and_an_older_one_is_refused() -> None:
    data = bytearray(seal_framed(KEY, INDEX, PLAIN))
    data[4] = 2
    newer = refused(open_framed, KEY, INDEX, bytes(data))
    assert isinstance(newer, EnvelopeNewer) and newer.found == 2
    assert newer.exit_code == ExitCode.USAGE and "newer version of hoso" in str(newer)
    data[4] = 0
    assert not isinstance(refused(open_framed, KEY, INDEX, bytes(data)), EnvelopeNewer)


def test_a_file_that_is_not_an_envelope_is_refused() -> None:
    for data in (b"", b"HOS", b"PK\x03\x04" + os.urandom(60), b'{"format": "hoso-vault"}'):
        assert "does not start like a hoso file" in refused(open_framed, KEY, INDEX, data).problem


# --- kinds and keys -------------------------------------------------------------------------


def test_no_kind_label_is_a_prefix_of_another() -> None:
    labels = [kind.label for kind in KINDS if kind.label] + [INDEX.label, SNAPSHOT.label]
    for first, second in itertools.permutations(labels, 2):
        assert not second.startswith(first), (first, second)
    # The one kind without a label is bound to a JSON object, where no label starts.
    assert all(not label.startswith(b"{") for label in labels)
    with pytest.raises(ValueError):
        seal(KEY, HANDOVER_BUNDLE, PLAIN, b"not json")


def test_framed_kinds_are_one_byte_and_sealed_kinds_are_not_framed() -> None:
    with pytest.raises(ValueError):
        framed_kind(b"ix")
    with pytest.raises(ValueError):
        seal_framed(KEY, VAULT, PLAIN)


def test_keys_and_plaintexts_stay_out_of_reprs_and_messages() -> None:
    secret = bytes(range(32))
    assert secret.hex() not in repr(KEY) and str(secret) not in repr(KEY)
    error = refused(open_sealed, OTHER_KEY, VAULT, seal(KEY, VAULT, PLAIN, HEADER), HEADER)
    text = f"{error} {error!r} {error.problem}"
    assert secret.hex() not in text and "Hoà-Bình" not in text
    with pytest.raises(ValueError) as caught:
        SealingKey(secret[:16])
    assert secret[:16].hex() not in str(caught.value)


def test_a_passphrase_key_is_the_same_however_the_passphrase_was_typed() -> None:
    cheap, salt = KdfParams(n=2**10), bytes(16)
    composed = "mật khẩu"
    decomposed = unicodedata.normalize("NFD", composed)
    assert decomposed != composed
    sealed = seal(envelope.passphrase_key(composed, salt, cheap), VAULT_KEY, PLAIN)
    assert open_sealed(envelope.passphrase_key(decomposed, salt, cheap), VAULT_KEY, sealed) == PLAIN
    refused(open_sealed, envelope.passphrase_key("mat khau", salt, cheap), VAULT_KEY, sealed)


@pytest.mark.parametrize(
    ("params", "valid"),
    [
        (KdfParams(), True),
        (KdfParams(n=2**10), True),
        (KdfParams(n=1000), False),  # not a power of two
        (KdfParams(n=2**20, r=16), False),  # 2 GiB: a forged file must not get that
        (KdfParams(p=0), False),
    ],
)
def test_scrypt_parameters_are_bounded(params: KdfParams, valid: bool) -> None:
    assert params.valid() is valid


def test_derived_keys_differ_by_purpose_and_salt() -> None:
    master = bytes(64)
    keys = {
        envelope.derive_key(master, b"one"),
        envelope.derive_key(master, b"two"),
        envelope.derive_key(master, b"one", b"salt"),
    }
    assert len(keys) == 3 and all(len(key) == 32 for key in keys)
