"""A Jupyter session driven by jupyter_client's asyncio client: the work of test_jupyter.py.

Run as ``python -m zreactor.run tests/jupyter_session.py --kernel pyzmq|zreactor``, so that
``zmq`` in this process (jupyter_client's ``zmq.asyncio`` sockets) is zreactor. The kernel
is ipykernel in a subprocess: on real pyzmq/libzmq (``--kernel pyzmq``, its environment
cleared of the aliasing variable), or itself on zreactor (``--kernel zreactor``, started
through ``python -m zreactor.run``). The session: ``kernel_info``, twenty ``execute``
requests whose stdout and results are checked, a ``complete`` request, the kernel's
debugger started and attached (debugpy, reached over the kernel's STREAM socket), and a
clean shutdown. Prints one JSON line with what it saw; exits 1 on the first mismatch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import zmq  # zreactor, through python -m zreactor.run
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

TIMEOUT = 60.0


def kernel_spec_dir(root: Path, kernel: str) -> Path:
    """A kernelspec for ipykernel with this interpreter, on zreactor or on pyzmq."""
    prefix = [sys.executable, "-m", "zreactor.run"] if kernel == "zreactor" else [sys.executable]
    spec = {"argv": [*prefix, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": f"python on {kernel}", "language": "python"}
    folder = root / "kernels" / f"py-{kernel}"
    folder.mkdir(parents=True)
    (folder / "kernel.json").write_text(json.dumps(spec))
    return root / "kernels"


async def collect_reply(client: Any, msg_id: str) -> dict[str, Any]:
    """The shell reply to ``msg_id``, skipping replies to earlier requests (``wait_for_ready``
    sends kernel_info requests of its own)."""
    while True:
        reply = await client.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"]["msg_id"] == msg_id:
            return reply  # type: ignore[no-any-return]


async def execute(client: Any, code: str) -> tuple[dict[str, Any], str, Any]:
    """Run ``code``; return (reply, stdout text, the execute_result's text/plain or None)."""
    msg_id = client.execute(code)
    stdout, result = [], None
    while True:  # iopub: busy, execute_input, stream/execute_result..., idle
        msg = await client.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content["name"] == "stdout":
            stdout.append(content["text"])
        elif kind == "execute_result":
            result = content["data"]["text/plain"]
        elif kind == "error":
            raise AssertionError(f"kernel error: {content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            break
    return await collect_reply(client, msg_id), "".join(stdout), result


async def debug_request(client: Any, seq: int, command: str, **arguments: Any) -> dict[str, Any]:
    """One DAP request through the kernel's debugger (control channel); its reply's content.

    The kernel carries it to debugpy over its STREAM socket (raw tcp, DAP's own framing), so
    this is where a kernel on zreactor exercises STREAM sockets."""
    msg = client.session.msg("debug_request", {"type": "request", "seq": seq,
                                               "command": command, "arguments": arguments})
    client.control_channel.send(msg)
    while True:
        reply = await client.control_channel.get_msg(timeout=TIMEOUT)
        if reply["parent_header"]["msg_id"] == msg["header"]["msg_id"]:
            content = reply["content"]
            if not content.get("success"):
                raise AssertionError((command, content, await kernel_errors(client)))
            return content  # type: ignore[no-any-return]


async def kernel_errors(client: Any) -> list[str]:
    """What the kernel published on iopub as errors or stderr in the next second: why a
    request failed inside it (the debugger runs ``debugpy.listen`` as a silent execute whose
    reply the client never sees; its traceback still goes out on iopub)."""
    found: list[str] = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            msg = await client.get_iopub_msg(timeout=max(0.01, deadline - time.monotonic()))
        except Exception:  # queue.Empty from jupyter_client: nothing more came
            break
        kind, content = msg["msg_type"], msg["content"]
        if kind == "error":
            found.append(f"{content['ename']}: {content['evalue']}")
        elif kind == "stream" and content.get("name") == "stderr":
            found.append(content["text"])
    return found


async def debug(client: Any) -> str:
    """Start the kernel's debugger, attach to it, check it runs, disconnect."""
    await debug_request(client, 1, "initialize", clientID="zreactor-test", adapterID="",
                        pathFormat="path", linesStartAt1=True, columnsStartAt1=True)
    await debug_request(client, 2, "attach")
    info = await debug_request(client, 3, "debugInfo")
    assert info["body"]["isStarted"], info
    await debug_request(client, 4, "disconnect", restart=False, terminateDebuggee=True)
    return "attached"


async def session(kernel: str) -> dict[str, Any]:
    assert zmq.__name__ == "zreactor", f"this client must run on zreactor, not {zmq!r}"
    seen: dict[str, Any] = {"client_zmq": zmq.__name__, "kernel": kernel}
    with tempfile.TemporaryDirectory() as tmp:
        specs = KernelSpecManager(kernel_dirs=[str(kernel_spec_dir(Path(tmp), kernel))])
        km = AsyncKernelManager(kernel_name=f"py-{kernel}", kernel_spec_manager=specs)
        env = {k: v for k, v in os.environ.items() if k != "ZREACTOR_AS_ZMQ"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)  # find this zreactor
        t0 = time.monotonic()
        await km.start_kernel(env=env)
        client = km.client()
        client.start_channels()
        try:
            await client.wait_for_ready(timeout=TIMEOUT)
            seen["startup_s"] = round(time.monotonic() - t0, 2)
            msg_id = client.kernel_info()
            info = await collect_reply(client, msg_id)
            assert info["content"]["status"] == "ok", info
            assert info["content"]["implementation"] == "ipython", info["content"]
            seen["kernel_info"] = info["content"]["language_info"]["name"]
            _, out, _ = await execute(client, "import zmq; print(zmq.__name__)")
            seen["kernel_zmq"] = out.strip()
            t1 = time.monotonic()
            for n in range(20):
                reply, out, result = await execute(
                    client, f"x{n} = {n} * {n}\nprint('line', {n})\nx{n} + 1")
                assert reply["content"]["status"] == "ok", reply["content"]
                assert out == f"line {n}\n", (n, out)
                assert result == str(n * n + 1), (n, result)
                assert reply["content"]["execution_count"] >= n + 1
            seen["executes"] = 20
            seen["execute_ms_each"] = round((time.monotonic() - t1) / 20 * 1000, 1)
            msg_id = client.complete("import collections; collections.Ordered")
            done = await collect_reply(client, msg_id)
            assert "OrderedDict" in done["content"]["matches"], done["content"]
            seen["complete"] = "collections.OrderedDict"
            t2 = time.monotonic()
            seen["debugger"] = await debug(client)
            seen["debugger_s"] = round(time.monotonic() - t2, 2)
            # a clean shutdown: the kernel answers on the control channel and exits by itself
            process = km.provisioner.process  # type: ignore[union-attr]
            msg_id = client.shutdown()
            while True:
                reply = await client.control_channel.get_msg(timeout=TIMEOUT)
                if reply["parent_header"]["msg_id"] == msg_id:
                    break
            assert reply["content"]["status"] == "ok", reply["content"]
            deadline = time.monotonic() + TIMEOUT
            while process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            seen["shutdown_exit_code"] = process.poll()
        finally:
            client.stop_channels()
            if await km.is_alive():  # only after a failure above
                await km.shutdown_kernel(now=True)
            await km.cleanup_resources()
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kernel", choices=["pyzmq", "zreactor"], required=True)
    args = parser.parse_args()
    result = asyncio.run(session(args.kernel))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
