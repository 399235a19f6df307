"""A private certificate authority for the TLS tests, made with ``cryptography``.

:func:`make_pki` writes a school CA, a server certificate it signed for 127.0.0.1/localhost,
and a second CA that signed nothing of the server's. :func:`issue_server_cert` adds server
certificates that are wrong on purpose (expired, for another host) to test refusals.
Everything is EC P-256, so making a PKI takes milliseconds.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCHOOL = "Trường Tiểu học hoso-test"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path  # the CA certificate a school would hand out (PEM)
    ca_key: Path  # kept so that tests can issue more certificates
    server_cert: Path  # for 127.0.0.1 and localhost, valid now
    server_key: Path
    other_ca_cert: Path  # a CA that did not sign the server's certificate


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, SCHOOL),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_ca(common_name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _make_server_cert(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    host: str = "127.0.0.1",
    expired: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    # An expired certificate ended yesterday; a valid one lasts a day.
    shift = datetime.timedelta(days=-2 if expired else 0)
    names: list[x509.GeneralName] = [x509.DNSName("localhost")] if host == "127.0.0.1" else []
    try:
        names.insert(0, x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.insert(0, x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(host))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1) + shift)
        .not_valid_after(now + datetime.timedelta(days=1) + shift)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _write_cert(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def make_pki(folder: Path) -> Pki:
    """A school CA, a server certificate it signed for 127.0.0.1, and an unrelated CA."""
    ca_cert, ca_key = _make_ca("hoso-test school CA")
    server_cert, server_key = _make_server_cert(ca_cert, ca_key)
    other_cert, _other_key = _make_ca("hoso-test some other CA")
    return Pki(
        ca_cert=_write_cert(folder / "school-ca.pem", ca_cert),
        ca_key=_write_key(folder / "school-ca.key", ca_key),
        server_cert=_write_cert(folder / "server.pem", server_cert),
        server_key=_write_key(folder / "server.key", server_key),
        other_ca_cert=_write_cert(folder / "other-ca.pem", other_cert),
    )


def issue_server_cert(
    pki: Pki, stem: str, *, host: str = "127.0.0.1", expired: bool = False
) -> tuple[Path, Path]:
    """Another server certificate of the school CA (certificate, key), next to the CA's files."""
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert, key = _make_server_cert(ca_cert, ca_key, host=host, expired=expired)
    folder = pki.ca_cert.parent
    return _write_cert(folder / f"{stem}.pem", cert), _write_key(folder / f"{stem}.key", key)
