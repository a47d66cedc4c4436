"""``python -m zreactor.curve_keygen``: print a new CURVE key pair, z85-encoded.

The command-line twin of :func:`zreactor.curve_keypair`, with pyzmq's options and output
(``zmq.curve_keygen``), so scripts that call it work unchanged under
:func:`zreactor.install_as_zmq`:

* no option: the public key, then the secret key, each under a ``== CURVE ... KEY ==`` line
  (libzmq's ``curve_keygen`` layout, without its disclaimer);
* ``--json``: ``{"public": ..., "secret": ...}``;
* ``--secret KEY``: derive the public key of an existing z85 secret key instead of making one.

CURVE needs the ``zreactor[curve]`` extra (PyNaCl); without it the command fails with the
library's error naming the extra.
"""

from __future__ import annotations

import argparse
import json
import sys

from . import curve_keypair, curve_public

__all__ = ["main"]


def _program() -> str:
    # invoked as ``-m zmq.curve_keygen`` under install_as_zmq(), the help names that command
    spec = globals().get("__spec__")
    package = spec.name.split(".")[0] if spec is not None and spec.name else "zreactor"
    return f"python3 -m {package}.curve_keygen"


def main(argv: list[str] | None = None) -> int:
    """Run the command with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = argparse.ArgumentParser(prog=_program(), description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the keys as a JSON object")
    parser.add_argument("--secret", metavar="KEY",
                        help="derive the public key of this z85 secret key (write --secret=KEY: "
                             "a key may begin with '-')")
    args = parser.parse_args(argv)
    if args.secret:
        secret = args.secret
        public = curve_public(secret.encode("ascii")).decode("ascii")
    else:
        public_key, secret_key = curve_keypair()
        public, secret = public_key.decode("ascii"), secret_key.decode("ascii")
    if args.json:
        json.dump({"public": public, "secret": secret}, sys.stdout, indent=1, sort_keys=True)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(f"== CURVE PUBLIC KEY ==\n{public}\n\n== CURVE SECRET KEY ==\n{secret}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
