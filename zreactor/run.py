"""``python -m zreactor.run``: run a pyzmq program on zreactor, unchanged.

Usage, as ``python`` itself takes a program::

    python -m zreactor.run script.py [args ...]
    python -m zreactor.run -m package.module [args ...]
    python -m zreactor.run -c "import zmq; print(zmq)" [args ...]

It calls :func:`zreactor.install_as_zmq` and then runs the program as ``python`` would
(``runpy``: ``__main__`` module, ``sys.argv`` shifted so the program sees its own name first,
``sys.path[0]`` the script's folder, or the current folder for ``-m``/``-c``). It also sets
``ZREACTOR_AS_ZMQ=1`` in the environment, so Python subprocesses the program starts (a Jupyter
kernel, a ``multiprocessing`` spawn child, ``ProcessDevice``) are aliased too by the ``.pth``
hook installed with zreactor. The program's exit status is the command's.
"""

from __future__ import annotations

import os
import runpy
import sys

from .as_zmq import ENV_VAR, install_as_zmq

_USAGE = (
    "usage: python -m zreactor.run script.py [args ...]\n"
    "       python -m zreactor.run -m module [args ...]\n"
    "       python -m zreactor.run -c code [args ...]\n"
)


def main(argv: list[str] | None = None) -> None:
    """Install the ``zmq`` alias and run the program named by ``argv`` (default: sys.argv[1:]).

    Raises:
        SystemExit: with status 2 on a malformed command line, or whatever the program exits
            with.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help") or (args[0] in ("-m", "-c") and len(args) < 2):
        sys.stderr.write(_USAGE)
        raise SystemExit(0 if args and args[0] in ("-h", "--help") else 2)
    os.environ[ENV_VAR] = "1"
    install_as_zmq()
    if args[0] == "-m":
        sys.argv = [args[1], *args[2:]]
        sys.path[0] = os.getcwd()
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    elif args[0] == "-c":
        sys.argv = ["-c", *args[2:]]
        sys.path[0] = ""
        code = compile(args[1], "<string>", "exec")
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__})
    else:
        sys.argv = list(args)
        sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
        runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()
