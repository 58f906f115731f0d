"""Helpers for the lab tests that drive the real command in a subprocess (as a console script would)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# A user problem module: SCALE = 0 makes every training step raise; otherwise the loss is scaled.
USER_PROBLEM = textwrap.dedent("""
    from optimlab.lab import make_problem

    SCALE = {scale}


    def build(seed, size="tiny"):
        p = make_problem("quadratic", seed, size="tiny")
        inner = p.loss_fn
        if SCALE == 0:
            def broken(model, batch):
                raise RuntimeError("user code is broken")
            p.loss_fn = broken
        else:
            p.loss_fn = lambda model, batch: SCALE * inner(model, batch)
        return p
""")


def write_user_problem(folder: Path, scale: float, name: str = "userprob") -> Path:
    path = Path(folder) / f"{name}.py"
    path.write_text(USER_PROBLEM.format(scale=scale))
    return path


def launcher(tmp_path: Path) -> Path:
    """A script that starts the command like the installed console script (its own folder on sys.path,
    not the working directory)."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    script = d / "optimlab_cli.py"
    script.write_text("import sys\nfrom optimlab.cli import main\n\nif __name__ == '__main__':\n    sys.exit(main())\n")
    return script


def as_at_a_terminal() -> None:
    """``preexec_fn`` for a command a test interrupts with SIGINT: the default disposition, as a shell
    gives a foreground command (a test runner started in the background, ``cmd &``, ignores SIGINT,
    and its children would inherit that and never see the Ctrl-C)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONSAFEPATH", None)
    return env


def start_cli(tmp_path: Path, *args, env: dict | None = None) -> subprocess.Popen:
    """Start ``optimlab ARGS`` in ``tmp_path`` in a session of its own, with SIGINT as a terminal gives
    it (see :func:`as_at_a_terminal`), text pipes for stdout and stderr."""
    return subprocess.Popen([sys.executable, str(launcher(tmp_path)), *map(str, args)], cwd=tmp_path,
                            env={**cli_env(), **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=as_at_a_terminal)


def interrupt(proc: subprocess.Popen, timeout: float = 30) -> tuple[str, str, float]:
    """Ctrl-C as the terminal sends it (SIGINT to the command's process group); returns its stdout,
    its stderr and the seconds it took to exit.  A command still running after ``timeout`` is killed."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.time()
        stdout, stderr = proc.communicate(timeout=timeout)
        return stdout, stderr, time.time() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_cli(tmp_path: Path, *args, cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run ``optimlab ARGS`` in ``cwd`` through :func:`launcher`; return the completed process."""
    return subprocess.run([sys.executable, str(launcher(tmp_path)), *map(str, args)], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)


def family(groups: list[int]) -> list[int]:
    """Live processes in the process groups ``groups`` (started with ``start_new_session``) and their
    descendants (a child may start a session of its own): the processes a test started, by id."""
    procs = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if st[0] != "Z":
                procs[int(d)] = (int(st[1]), int(st[2]))  # ppid, pgid
    ours = {p for p, (_, g) in procs.items() if g in groups}
    while True:
        more = {p for p, (pp, _) in procs.items() if pp in ours} - ours
        if not more:
            return sorted(ours)
        ours |= more


def kill_family(groups: list[int], timeout: float = 10.0) -> list[int]:
    """SIGKILL :func:`family` (``groups``) until none is left or ``timeout``; the ones left."""
    import signal
    import time

    deadline = time.time() + timeout
    while (left := family(groups)) and time.time() < deadline:
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    return family(groups)
