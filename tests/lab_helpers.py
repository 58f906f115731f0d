"""Helpers for the lab tests that drive the real command in a subprocess (as a console script would)."""

import os
import subprocess
import sys
import textwrap
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


def cli_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    env.pop("PYTHONSAFEPATH", None)
    return env


def run_cli(tmp_path: Path, *args, cwd: Path, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    """Run ``optimlab ARGS`` in ``cwd`` through :func:`launcher`; return the completed process."""
    return subprocess.run([sys.executable, str(launcher(tmp_path)), *map(str, args)], cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout, **kw)
