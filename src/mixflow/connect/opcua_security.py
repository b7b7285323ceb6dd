"""OPC UA security: the policy a link asks for and the certificates it shows.

Security None sends a machine's data and the plan's commands in clear text and lets anyone on the
plant network forge them, so both ends can insist on a signed and encrypted channel
(`Basic256Sha256,SignAndEncrypt`), each side showing an X.509 application certificate. A certificate
can be generated here (self-signed, as OPC UA applications commonly start out); its private key is
written with mode 0600, and a key file others may read is refused.
"""

from __future__ import annotations

import datetime
import socket
from dataclasses import dataclass
from pathlib import Path

from asyncua import ua
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import dump_private_key_as_pem, generate_private_key
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mixflow.connect.credentials import check_private, write_private
from mixflow.errors import ValidationError

POLICIES = ("Basic256Sha256", "Aes128Sha256RsaOaep", "Aes256Sha256RsaPss")
MODES = ("Sign", "SignAndEncrypt")
CERTIFICATE_DAYS = 365


@dataclass(frozen=True)
class OpcUaSecurity:
    """A secured link: policy, mode, our certificate and key (PEM or DER files), optionally the
    server's certificate to pin (without it, the certificate the server presents is used)."""

    policy: str
    mode: str
    certificate: Path
    private_key: Path
    server_certificate: Path | None = None

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValidationError("security", f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.mode not in MODES:
            raise ValidationError("security", f"mode must be one of {MODES}, got {self.mode!r}")

    @classmethod
    def parse(
        cls,
        text: str | None,
        certificate: Path | None,
        private_key: Path | None,
        server_certificate: Path | None = None,
    ) -> OpcUaSecurity | None:
        """`Policy,Mode` (e.g. `Basic256Sha256,SignAndEncrypt`) with its files; None or "None" is no
        security."""
        if text is None or text.strip() in ("", "None"):
            return None
        policy, _, mode = (part.strip() for part in text.partition(","))
        if certificate is None or private_key is None:
            raise ValidationError(
                "security", f"{text!r} needs a certificate and a private key (--cert and --key)"
            )
        return cls(policy, mode or "SignAndEncrypt", Path(certificate), Path(private_key), server_certificate)

    def check(self) -> None:
        """Fail now, with the file named, rather than at every connection attempt: the certificate must
        be readable and the private key readable by its owner only."""
        try:
            load_certificate(self.certificate)
        except (OSError, ValueError) as error:
            raise ValidationError(str(self.certificate), f"not a readable certificate: {error}") from None
        check_private(self.private_key, "private key")

    @property
    def label(self) -> str:
        return f"{self.policy},{self.mode}"

    @property
    def policy_class(self) -> type[security_policies.SecurityPolicy]:
        policy: type[security_policies.SecurityPolicy] = getattr(
            security_policies, f"SecurityPolicy{self.policy}"
        )
        return policy

    @property
    def message_mode(self) -> ua.MessageSecurityMode:
        return getattr(ua.MessageSecurityMode, self.mode)

    @property
    def server_policy(self) -> ua.SecurityPolicyType:
        """The one endpoint type a server offers when it insists on this security."""
        return getattr(ua.SecurityPolicyType, f"{self.policy}_{self.mode}")


def file_format(path: Path) -> str:
    """`pem` or `der`, by content: asyncua would guess by the file name's extension."""
    with open(path, "rb") as file:
        return "pem" if file.read(64).lstrip().startswith(b"-----BEGIN") else "der"


def load_certificate(path: Path) -> x509.Certificate:
    data = Path(path).read_bytes()
    if file_format(path) == "pem":
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def certificate_uri(path: Path) -> str | None:
    """The application URI a certificate names (OPC UA peers compare it with the application's)."""
    try:
        names = load_certificate(path).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return None
    uris = names.value.get_values_for_type(x509.UniformResourceIdentifier)
    return uris[0] if uris else None


def make_certificate(
    certificate: Path, private_key: Path, uri: str, name: str, hosts: tuple[str, ...] = ()
) -> None:
    """Write a self-signed application certificate (PEM) for `uri` and its RSA key (PEM, mode 0600),
    usable both as client and as server (OPC UA 10000-6 6.2.2)."""
    key = generate_private_key()
    hosts = hosts or ("127.0.0.1", "localhost", socket.gethostname())
    alt_names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    alt_names += [x509.DNSName(host) for host in dict.fromkeys(hosts)]
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=CERTIFICATE_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=True,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    write_private(private_key, dump_private_key_as_pem(key).decode())
    Path(certificate).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_certificate(certificate: Path, private_key: Path, uri: str, name: str) -> bool:
    """Generate the certificate and key when neither file exists; True when it did."""
    if Path(certificate).exists() and Path(private_key).exists():
        return False
    if Path(certificate).exists() or Path(private_key).exists():
        raise ValidationError(
            "certificate", f"{certificate} and {private_key} must both exist (or neither, to generate them)"
        )
    make_certificate(certificate, private_key, uri, name)
    return True
