"""``python -m zreactor.curve_keygen`` (and ``-m zmq.curve_keygen`` under the alias)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zreactor
from zreactor.utils import z85

pytest.importorskip("nacl")


def keygen(*args: str, module: str = "zreactor.curve_keygen") -> str:
    command = [sys.executable, "-m", "zreactor.run", "-m", module] if module.startswith("zmq") \
        else [sys.executable, "-m", module]
    done = subprocess.run(command + list(args), capture_output=True, text=True, timeout=30,
                          check=True)
    return done.stdout


def test_plain_output_has_both_keys_under_libzmqs_headings() -> None:
    lines = keygen().splitlines()
    public = lines[lines.index("== CURVE PUBLIC KEY ==") + 1]
    secret = lines[lines.index("== CURVE SECRET KEY ==") + 1]
    assert len(z85.decode(public)) == len(z85.decode(secret)) == 32
    assert zreactor.curve_public(secret.encode()) == public.encode()


def test_secret_derives_the_public_key_as_json() -> None:
    public, secret = zreactor.curve_keypair()
    # the ``=`` form: a z85 key may begin with "-", which would read as an option
    out = json.loads(keygen(f"--secret={secret.decode()}", "--json"))
    assert out == {"public": public.decode(), "secret": secret.decode()}


def test_runs_as_zmq_curve_keygen_under_the_alias() -> None:
    out = keygen("-h", module="zmq.curve_keygen")
    assert "python3 -m zmq.curve_keygen" in out and "--json" in out
