"""``install_as_zmq()``, ``python -m zreactor.run`` and the ``ZREACTOR_AS_ZMQ`` start-up hook.

Every check runs in a child interpreter: this test process imports the real pyzmq for the
interop tests, and the aliasing is per process by design. The programs the children run are
plain pyzmq code (``import zmq``), the kind a third-party library contains.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import zreactor
from zreactor.as_zmq import ENV_VAR

ROOT = Path(zreactor.__file__).resolve().parent.parent
PTH = ROOT / "zreactor_as_zmq.pth"

#: a pyzmq program as a third-party library would write it: PUSH/PULL over tcp and inproc,
#: a poller, a multipart round trip. It prints which library answered ``import zmq``.
PYZMQ_PROGRAM = textwrap.dedent(
    """
    import sys
    import zmq
    import zmq.utils.monitor

    ctx = zmq.Context()
    for endpoint in ("inproc://as-zmq", "tcp://127.0.0.1:*"):
        pull = ctx.socket(zmq.PULL)
        pull.bind(endpoint)
        push = ctx.socket(zmq.PUSH)
        push.connect(pull.getsockopt(zmq.LAST_ENDPOINT).decode())
        push.send_multipart([b"hello", b"world"])
        poller = zmq.Poller()
        poller.register(pull, zmq.POLLIN)
        assert dict(poller.poll(5000)) == {pull: zmq.POLLIN}
        assert pull.recv_multipart() == [b"hello", b"world"]
        push.close(linger=0)
        pull.close()
    ctx.term()
    print(zmq.__name__, zmq.utils.monitor.__name__, *sys.argv[1:])
    """
)


def run_python(*args: str, env_extra: dict[str, str] | None = None, cwd: Path | None = None,
               timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop(ENV_VAR, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.update(env_extra or {})
    return subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


def check(code: str, **kwargs: object) -> str:
    done = run_python("-c", textwrap.dedent(code), **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stderr
    return done.stdout


pytestmark = pytest.mark.timeout(60)


def test_install_as_zmq_gives_one_copy_of_each_module() -> None:
    out = check(
        """
        import zreactor, zreactor.utils.monitor
        zreactor.install_as_zmq()
        zreactor.install_as_zmq()          # idempotent
        import zmq, zmq.utils.monitor
        from zmq.utils import monitor
        import zmq.sockets.poll as poll
        assert zmq is zreactor
        assert zmq.utils.monitor is zreactor.utils.monitor is monitor
        assert poll is __import__("zreactor.sockets.poll").sockets.poll
        assert zmq.Socket is zreactor.Socket
        # the modules keep their own identity (reload and pickling by name still work)
        assert zmq.utils.monitor.__spec__.name == "zreactor.utils.monitor"
        assert zreactor.__spec__.name == "zreactor"
        import importlib; importlib.reload(zmq.utils.monitor)
        import sys
        assert sys.modules["zmq.utils.monitor"] is sys.modules["zreactor.utils.monitor"]
        print("ok", zreactor.as_zmq.is_installed_as_zmq())
        """
    )
    assert out.split() == ["ok", "True"]


def test_a_submodule_zreactor_lacks_is_not_found_never_pyzmqs() -> None:
    out = check(
        """
        import zreactor
        zreactor.install_as_zmq()
        try:
            import zmq.sugar_that_zreactor_lacks
        except ModuleNotFoundError as exc:
            assert exc.name == "zmq.sugar_that_zreactor_lacks", exc.name
            assert "zreactor" in str(exc)
            print("not found")
        """
    )
    assert out.strip() == "not found"


def test_a_module_valued_attribute_counts_as_a_submodule() -> None:
    out = check(
        """
        import zreactor, zreactor.errors
        zreactor.some_alias_for_test = zreactor.errors
        zreactor.install_as_zmq()
        import zmq.some_alias_for_test as alias
        assert alias is zreactor.errors
        print("aliased")
        """
    )
    assert out.strip() == "aliased"


def test_refuses_when_pyzmq_is_already_imported() -> None:
    pytest.importorskip("zmq")
    out = check(
        """
        import zmq, zreactor
        try:
            zreactor.install_as_zmq()
        except ImportError as exc:
            print("refused:", "already imported" in str(exc))
        """
    )
    assert out.strip() == "refused: True"


def test_off_by_default_import_zmq_is_pyzmq() -> None:
    pytest.importorskip("zmq")
    out = check("import zmq, zreactor; print(zmq is zreactor, 'zreactor' in zmq.__file__)")
    assert out.split() == ["False", "False"]


def test_run_script_runs_pyzmq_code_on_zreactor(tmp_path: Path) -> None:
    script = tmp_path / "third_party.py"
    script.write_text(PYZMQ_PROGRAM)
    done = run_python("-m", "zreactor.run", str(script), "a", "b", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["zreactor", "zreactor.utils.monitor", "a", "b"]


def test_run_module_and_code_forms(tmp_path: Path) -> None:
    (tmp_path / "third_party_mod.py").write_text(PYZMQ_PROGRAM)
    done = run_python("-m", "zreactor.run", "-m", "third_party_mod", "x", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["zreactor", "zreactor.utils.monitor", "x"]
    done = run_python("-m", "zreactor.run", "-c", PYZMQ_PROGRAM, "y", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["zreactor", "zreactor.utils.monitor", "y"]


def test_run_passes_exit_status_and_sets_the_variable_for_children(tmp_path: Path) -> None:
    script = tmp_path / "exits.py"
    script.write_text("import os, sys\nprint(os.environ['ZREACTOR_AS_ZMQ'])\nsys.exit(3)\n")
    done = run_python("-m", "zreactor.run", str(script), cwd=tmp_path)
    assert (done.returncode, done.stdout.strip()) == (3, "1")
    usage = run_python("-m", "zreactor.run")
    assert usage.returncode == 2 and "usage:" in usage.stderr


def _site_dir_with_hook(tmp_path: Path) -> Path:
    site_dir = tmp_path / "site"
    site_dir.mkdir()
    shutil.copy(PTH, site_dir / PTH.name)
    return site_dir


@pytest.mark.parametrize("value", ["1", "yes"])
def test_pth_hook_aliases_when_the_variable_is_set(tmp_path: Path, value: str) -> None:
    # site.addsitedir processes .pth files exactly as interpreter start-up does
    site_dir = _site_dir_with_hook(tmp_path)
    code = f"import site; site.addsitedir({str(site_dir)!r})\n" + PYZMQ_PROGRAM
    out = check(code, env_extra={ENV_VAR: value})
    assert out.split() == ["zreactor", "zreactor.utils.monitor"]


@pytest.mark.parametrize("value", ["", "0", "off"])
def test_pth_hook_does_nothing_otherwise(tmp_path: Path, value: str) -> None:
    site_dir = _site_dir_with_hook(tmp_path)
    out = check(
        f"import site, sys; site.addsitedir({str(site_dir)!r}); "
        "print('zreactor' in sys.modules, 'zmq' in sys.modules)",
        env_extra={ENV_VAR: value},
    )
    assert out.split() == ["False", "False"]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_installed_package_carries_the_hook(tmp_path: Path, editable: bool) -> None:
    """``pip install`` and ``pip install -e`` both put the hook in site-packages (fresh venv).

    The venv sees the machine's setuptools (``--system-site-packages``) and pip builds without
    isolation, so the test needs no network (setuptools' wheel building needs ``wheel``).
    """
    pytest.importorskip("wheel")
    src = tmp_path / "src"
    shutil.copytree(ROOT / "zreactor", src / "zreactor",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "setup.py", "setup.cfg", "README.md", "LICENSE", PTH.name):
        shutil.copy(ROOT / name, src / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
           "--no-index"]
    done = subprocess.run([*pip, *(["-e"] if editable else []), str(src)], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    assert (Path(site_packages) / PTH.name).read_text() == PTH.read_text()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env[ENV_VAR] = "1"
    done = subprocess.run([str(python), "-c", PYZMQ_PROGRAM + "print(zmq.__file__)"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["zreactor", "zreactor.utils.monitor"]
    expected = src if editable else Path(site_packages)
    assert done.stdout.split()[2].startswith(str(expected)), done.stdout
