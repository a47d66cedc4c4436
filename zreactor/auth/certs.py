"""CURVE certificate files, in pyzmq's (and CZMQ's ``zcert``) text format.

Theory of operation
-------------------
A certificate is a small ZPL text file::

    #   ****  Generated on 2026-12-01 20:00:00 by zreactor  ****
    metadata
    curve
        public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"

:func:`create_certificates` writes ``NAME.key`` (public only, to hand out) and
``NAME.key_secret`` (both keys, created readable by the owner only). A certificate folder
for :meth:`Authenticator.configure_curve <zreactor.auth.Authenticator.configure_curve>` is
every ``*.key`` file in it. Keys are kept in their Z85 text form, as pyzmq does.
"""

from __future__ import annotations

import datetime
import glob
import os
from typing import Union

__all__ = ["create_certificates", "load_certificate", "load_certificates"]

PathLike = Union[str, "os.PathLike[str]"]

_BANNER = "#   ****  Generated on {0} by zreactor  ****\n"


def _write(path: str, public_key: bytes, secret_key: bytes | None,
           metadata: dict[str, str] | None) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    mode = 0o600 if secret_key else 0o644
    with os.fdopen(os.open(path, flags, mode), "w", encoding="utf-8") as f:
        f.write(_BANNER.format(datetime.datetime.now()))
        f.write("metadata\n")
        for key, value in (metadata or {}).items():
            k = key.decode() if isinstance(key, bytes) else key
            v = value.decode() if isinstance(value, bytes) else value
            f.write(f"    {k} = {v}\n")
        f.write("curve\n")
        f.write(f'    public-key = "{public_key.decode("ascii")}"\n')
        if secret_key:
            f.write(f'    secret-key = "{secret_key.decode("ascii")}"\n')


def create_certificates(key_dir: PathLike, name: str,
                        metadata: dict[str, str] | None = None) -> tuple[str, str]:
    """Create a new key pair as ``key_dir/name.key`` and ``key_dir/name.key_secret``.

    Returns:
        ``(public_file, secret_file)``.

    Raises:
        zreactor.ZMQError: PyNaCl (the ``zreactor[curve]`` extra) is not installed.
    """
    from ..zmtp.curve import curve_keypair

    public_key, secret_key = curve_keypair()
    base = os.path.join(os.fspath(key_dir), name)
    public_file, secret_file = f"{base}.key", f"{base}.key_secret"
    _write(public_file, public_key, None, None)
    _write(secret_file, public_key, secret_key, metadata)
    return public_file, secret_file


def load_certificate(filename: PathLike) -> tuple[bytes, bytes | None]:
    """Return ``(public_key, secret_key)`` (Z85) from a certificate; secret is None if absent.

    Raises:
        OSError: no such file. ValueError: the file holds no public key.
    """
    if not os.path.exists(filename):
        raise OSError(f"Invalid certificate file: {filename}")
    public_key = secret_key = None
    with open(filename, "rb") as f:
        for line in f:
            line = line.strip()
            if line.startswith(b"#"):
                continue
            if line.startswith(b"public-key"):
                public_key = line.split(b"=", 1)[1].strip(b" \t'\"")
            elif line.startswith(b"secret-key"):
                secret_key = line.split(b"=", 1)[1].strip(b" \t'\"")
    if public_key is None:
        raise ValueError(f"No public key found in {filename}")
    return public_key, secret_key


def load_certificates(directory: PathLike = ".") -> dict[bytes, bool]:
    """Return ``{public_key: True}`` for every ``*.key`` certificate in ``directory``.

    Raises:
        OSError: ``directory`` is not a directory.
    """
    if not os.path.isdir(directory):
        raise OSError(f"Invalid certificate directory: {directory}")
    certs: dict[bytes, bool] = {}
    for path in glob.glob(os.path.join(os.fspath(directory), "*.key")):
        public_key, _ = load_certificate(path)
        certs[public_key] = True
    return certs
