"""A self-signed certificate standing in for ACM's, to run an environment that serves HTTPS on this machine.

`make demo ENV=prod` makes one for the environment's domain (and 127.0.0.1, where HAProxy listens), imports it
into the emulator's ACM, synthesizes the stack with that certificate's ARN in place of the real one, and gives
the runner the certificate and its key, which HAProxy serves as the ALB would serve ACM's. Nobody trusts it but
who is told to: `curl --cacert <folder>/certificate.pem`, or a browser shown its public key.

Made with openssl (as runner/database.py's server certificate); standard library otherwise. Made again only when
the one in the folder does not name the domain or expires within a day.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

DAYS = 30


class CertificateError(Exception):
    """openssl is missing or failed; the message says which."""


@dataclass(frozen=True)
class LocalCertificate:
    folder: Path
    domain: str

    @property
    def certificate(self) -> Path:
        """The certificate alone (PEM): what ACM imports, and what a client trusts."""
        return self.folder / "certificate.pem"

    @property
    def key(self) -> Path:
        """Its private key (PEM, owner-only)."""
        return self.folder / "key.pem"

    @property
    def bundle(self) -> Path:
        """Certificate then key in one file (owner-only): what HAProxy's `crt` takes."""
        return self.folder / "haproxy.pem"


def _openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["openssl", *args], input=stdin, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise CertificateError("openssl is missing: apt-get install openssl") from None


def _valid(cert: LocalCertificate) -> bool:
    if not (cert.certificate.exists() and cert.key.exists() and cert.bundle.exists()):
        return False
    # Two calls: given -checkend, openssl 3.0 prints nothing of -checkhost.
    lasting = _openssl("x509", "-in", str(cert.certificate), "-noout", "-checkend", "86400")
    named = _openssl("x509", "-in", str(cert.certificate), "-noout", "-checkhost", cert.domain)
    return lasting.returncode == 0 and named.returncode == 0 and b"does match" in named.stdout


def make(folder: Path, domain: str) -> LocalCertificate:
    """The certificate for `domain` and 127.0.0.1 in `folder`: the one there if still good, else a new one."""
    cert = LocalCertificate(folder, domain)
    if _valid(cert):
        return cert
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    made = _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(DAYS), "-subj", f"/CN={domain}",
                    "-addext", f"subjectAltName=DNS:{domain},IP:127.0.0.1", "-addext", "extendedKeyUsage=serverAuth",
                    "-keyout", str(cert.key), "-out", str(cert.certificate))
    if made.returncode != 0:
        raise CertificateError(f"openssl could not make a certificate for {domain}: {made.stderr.decode().strip()}")
    cert.key.chmod(0o600)
    cert.bundle.touch(mode=0o600)
    cert.bundle.write_bytes(cert.certificate.read_bytes() + cert.key.read_bytes())
    return cert


def spki_sha256(certificate: Path) -> str:
    """Base64 of the SHA-256 of the certificate's public key (SubjectPublicKeyInfo, DER): the form Chromium's
    `--ignore-certificate-errors-spki-list` takes to trust this one key and no other."""
    key = _openssl("x509", "-in", str(certificate), "-noout", "-pubkey")
    der = _openssl("pkey", "-pubin", "-outform", "der", stdin=key.stdout)
    digest = _openssl("dgst", "-sha256", "-binary", stdin=der.stdout)
    encoded = _openssl("base64", "-A", stdin=digest.stdout)
    if any(step.returncode != 0 for step in (key, der, digest, encoded)):
        raise CertificateError(f"openssl could not read the public key of {certificate}")
    return encoded.stdout.decode().strip()
