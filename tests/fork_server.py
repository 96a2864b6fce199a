"""Commands in processes forked from one that has already imported what they import: a real process per command
(its own pid, environment, stdout, stderr and exit status; ``os._exit`` kills it alone), without the second or so
of interpreter start and imports each ``python -m ...`` spends before it does anything.

``python -m tests.fork_server MODULE ...`` imports the MODULEs, then reads one JSON request a line on stdin:
``{"module": "mbo_pipelines.cli"}`` (as ``python -m``) or ``{"path": "tests/activate/crashing_push.py"}`` (as
``python PATH``), with ``"argv"``, ``"env"`` (the whole environment) and ``"timeout"`` (seconds). For each it forks a
child that replaces its environment with ``env``, points stdout and stderr at files of its own and stdin at
/dev/null, and runs the module or script as ``__main__``, exactly what the interpreter would run: the child's exit
status is the command's (a ``sys.exit`` code, 1 with the traceback for an uncaught error, minus the signal that
killed it, or -9 when it outlived ``timeout``). The answer is one JSON line: ``returncode``, ``stdout``,
``stderr``, ``timed_out``. Every child starts from the same freshly imported state, so none sees another's
settings, connections or caches.

The MODULEs must read nothing from the environment when imported (MBO reads its settings in functions, when a
command runs); the server imports them with the test run's environment minus every MBO, dbt and platform variable.
"""

from __future__ import annotations

import json
import os
import runpy
import select
import signal
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Variables the server's own environment goes without (the suite's, or a developer's shell's, settings and tokens).
_PREFIXES = ("MBO_", "GOOGLE_ADS_", "META_", "TIKTOK_", "ANTHROPIC_", "DAGSTER_HOME", "DBT_", "GOOGLE_APPLICATION")


def _child(request: dict, out: int, err: int) -> None:
    """In the forked child: become the requested command; never returns."""
    code = 1
    try:
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request.get("cwd") or ROOT)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        try:
            if "module" in request:  # python -m MODULE: the module runs as __main__, not imported first
                sys.argv = [request["module"], *request["argv"]]
                runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
            else:  # python PATH: the script's folder comes first on sys.path
                path = str(Path(request["path"]).resolve())
                sys.argv = [path, *request["argv"]]
                sys.path[0] = os.path.dirname(path)
                runpy.run_path(path, run_name="__main__")
            code = 0
        except SystemExit as done:  # what the interpreter makes of sys.exit(...)
            if done.code is None or isinstance(done.code, int):
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - uncaught: the interpreter prints the traceback and exits 1
            traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001, S110 - a closed stream: nothing left to write
                pass
        os._exit(code)


def _wait(pid: int, timeout: float | None) -> tuple[int, bool]:
    """The child's wait status, and whether it had to be killed for outliving ``timeout``."""
    pidfd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([pidfd], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
    finally:
        os.close(pidfd)
    return os.waitpid(pid, 0)[1], not ready


def serve(modules: list[str]) -> None:
    """Import ``modules``, then answer requests from stdin until it closes."""
    for module in modules:
        __import__(module)
    channel = os.fdopen(os.dup(1), "w")  # not inherited: a child's stdout is its own file
    print("ready", file=channel, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(request, out.fileno(), err.fileno())
            status, timed_out = _wait(pid, request.get("timeout"))
            texts = []
            for stream in (out, err):
                stream.seek(0)
                texts.append(stream.read().decode(errors="replace"))
        answer = {"returncode": os.waitstatus_to_exitcode(status), "stdout": texts[0], "stderr": texts[1],
                  "timed_out": timed_out}
        print(json.dumps(answer), file=channel, flush=True)


class ForkServer:
    """A running ``tests.fork_server`` that has imported ``modules``; ``run_module`` and ``run_path`` are
    ``subprocess.run([sys.executable, "-m", MODULE or PATH, *argv], env=env, capture_output=True, text=True,
    timeout=timeout)`` with a forked child instead of a new interpreter."""

    def __init__(self, modules: list[str]):
        env = {k: v for k, v in os.environ.items() if not k.startswith(_PREFIXES)}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.fork_server", *modules], cwd=ROOT,
                                        env=env, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        ready = self.process.stdout.readline()
        assert ready == "ready\n", f"the fork server did not start: {ready!r}"

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self, request: dict, command: list[str], timeout: float | None) -> subprocess.CompletedProcess:
        self.process.stdin.write(json.dumps({**request, "timeout": timeout}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the fork server died"
        answer = json.loads(line)
        if answer["timed_out"]:
            raise subprocess.TimeoutExpired(command, timeout, answer["stdout"], answer["stderr"])
        return subprocess.CompletedProcess(command, answer["returncode"], answer["stdout"], answer["stderr"])

    def run_module(self, module: str, *argv: str, env: dict[str, str], timeout: float | None = None,
                   cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``python -m MODULE ARGV`` with ``env`` (its whole environment), in ``cwd`` (default the repository)."""
        request = {"module": module, "argv": list(argv), "env": env, "cwd": str(cwd or ROOT)}
        return self._run(request, [sys.executable, "-m", module, *argv], timeout)

    def run_path(self, path: Path, *argv: str, env: dict[str, str], timeout: float | None = None,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        """``python PATH ARGV`` with ``env`` (its whole environment), in ``cwd`` (default the repository)."""
        request = {"path": str(path), "argv": list(argv), "env": env, "cwd": str(cwd or ROOT)}
        return self._run(request, [sys.executable, str(path), *argv], timeout)

    def close(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


if __name__ == "__main__":
    serve(sys.argv[1:])
