"""Ironhouse: CURVE encryption plus client authentication from a certificate folder.

The server knows which clients may connect by their public keys (a folder of ``*.key``
certificates); each client knows the server's public key. Everything on the wire is boxed,
and a client whose certificate is not in the folder is refused by the ZAP handler
(``HANDSHAKE_FAILED_AUTH`` 400 on the server's monitor). pyzmq code with
``import zreactor as zmq``; needs PyNaCl (``pip install 'zreactor[curve]'``).

    python examples/ironhouse.py
"""

from __future__ import annotations

import os
import tempfile

import zreactor as zmq
from zreactor.auth import ThreadAuthenticator, create_certificates, load_certificate


def main() -> None:
    with tempfile.TemporaryDirectory() as keys:
        allowed = os.path.join(keys, "allowed")
        os.mkdir(allowed)
        _, server_secret_file = create_certificates(keys, "server")
        client_public_file, client_secret_file = create_certificates(keys, "client")
        _, stranger_secret_file = create_certificates(keys, "stranger")
        os.rename(client_public_file, os.path.join(allowed, "client.key"))

        ctx = zmq.Context()
        auth = ThreadAuthenticator(ctx)
        auth.start()
        auth.allow("127.0.0.1")
        auth.configure_curve(domain="*", location=allowed)

        server = ctx.socket(zmq.REP)
        server_public, server_secret = load_certificate(server_secret_file)
        server.curve_publickey, server.curve_secretkey = server_public, server_secret
        server.curve_server = True
        server.rcvtimeo = 3000
        port = server.bind_to_random_port("tcp://127.0.0.1")

        for name, secret_file in (("client", client_secret_file),
                                  ("stranger", stranger_secret_file)):
            client = ctx.socket(zmq.REQ)
            client.curve_publickey, client.curve_secretkey = load_certificate(secret_file)
            client.curve_serverkey = server_public
            client.rcvtimeo = client.sndtimeo = 1000
            client.linger = 0
            client.connect(f"tcp://127.0.0.1:{port}")
            try:
                client.send(b"hello from " + name.encode())
                request = server.recv() if name == "client" else None
                if request is not None:
                    server.send(b"welcome, " + request[11:])
                print(name, "->", client.recv().decode())
            except zmq.Again:
                print(name, "-> refused")
            client.close()

        server.close()
        auth.stop()
        ctx.term()


if __name__ == "__main__":
    main()
