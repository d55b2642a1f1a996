"""Signals (issue 24, item 4): a killed sweep leaves no processes behind; Ctrl-C is one line and exit 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc (Linux)")]


def _children(pid: int) -> set[int]:
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two workers")
def test_kill_9_of_a_pooled_sweep_takes_its_workers_with_it(tmp_path):
    command = [sys.executable, "-m", "memsim", "sweep", "--model", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo",
               "--ber", "0:0.3:40", "--trials", "20", "--workers", "2", "--quiet", "--out", str(tmp_path / "out")]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and not (tmp_path / "out" / "sweep.csv").exists():
            time.sleep(0.2)
        while time.monotonic() < deadline and len(workers) < 3:  # two pool workers and the resource tracker
            workers = _children(proc.pid)
            time.sleep(0.2)
        assert workers, "the sweep started no worker processes"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.2)
        left = [w for w in workers if _alive(w)]
        print(f"\n{len(workers)} child processes; alive 15 s after the parent's SIGKILL: {left}")
        assert not left
    finally:
        if proc.poll() is None:
            proc.kill()
        for w in _children(proc.pid):
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass


@pytest.mark.slow
def test_ctrl_c_inside_a_numba_kernel_is_one_line_and_130():
    """SIGINT while a compiled kernel runs comes back from numba as "SystemError: CPUDispatcher(...) returned a
    result with an exception set" (seen here at 8 s into the CNN's per-access reads); it is still an interrupt."""
    command = [sys.executable, "-m", "memsim", "evaluate", "cnn_cel_ber0", "--ber", "0.1", "--granularity",
               "per_access", "--dataset", "fashion-mnist"]  # fmt: skip
    subprocess.run([*command, "--limit", "2"], capture_output=True, check=True, timeout=600)  # compile and cache
    for delay in (6.0, 7.0, 8.0, 9.0):  # some land in Python, some inside a kernel
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
        time.sleep(delay)
        if proc.poll() is not None:
            pytest.skip("the command finished before the signal")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        print(f"\nSIGINT at {delay:.0f} s: exit {proc.returncode}; stderr: {err.strip()[-200:]!r}")
        assert proc.returncode == 130
        assert err.strip().splitlines()[-1] == "memsim: interrupted"
        assert "Traceback" not in err and "SystemError" not in err


def test_an_interrupt_anywhere_in_the_chain_counts():
    from memsim.cli.app import _interrupted

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise SystemError("CPUDispatcher(<function k>) returned a result with an exception set") from None
    except SystemError as err:
        assert _interrupted(err)  # the interrupt is the context even with "from None"
    assert not _interrupted(ValueError("x"))


def _interrupt(command, delay, *, group=False, ready=None, tmp_path=None, timeout=120.0):
    """Start ``command``, wait ``delay`` s (after ``ready`` exists, if given), send SIGINT; (exit, stderr).

    ``group``: to the whole process group, as a terminal's Ctrl-C does (workers included).
    """
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while ready is not None and not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(delay)
        if proc.poll() is not None:
            return None, proc.stderr.read()
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=timeout)
        return proc.returncode, err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def _one_line(code, err, what):
    print(f"\n{what}: exit {code}; stderr: {err.strip()[-300:]!r}")
    assert code == 130, err
    assert err.strip().splitlines() == ["memsim: interrupted"]


@pytest.mark.parametrize("delay", [0.1, 0.25, 0.45])
def test_ctrl_c_while_memsim_loads_is_one_line_and_130(delay):
    """`memsim --help`-free start: the parser imports the commands (numba, numpy) inside main's handling."""
    code, err = _interrupt([sys.executable, "-m", "memsim", "profiles", "list"], delay, group=True)
    if code is None or (code == 0 and not err.strip()):  # done, or done as the signal came (a loaded machine)
        pytest.skip("finished before the signal")
    _one_line(code, err, f"SIGINT {delay} s into `memsim profiles list`")


@pytest.mark.jit
def test_ctrl_c_in_the_demo_is_one_line_and_130(tmp_path):
    command = [sys.executable, "-m", "memsim", "demo", "--quiet", "--out", str(tmp_path / "demo")]
    code, err = _interrupt(command, 0.5, group=True, ready=tmp_path / "demo" / "sweep.csv")
    if code is None:
        pytest.skip("the demo finished before the signal")
    _one_line(code, err, "SIGINT 0.5 s after the demo's sweep.csv appeared")


@pytest.mark.jit
def test_ctrl_c_of_a_local_dask_sweep_is_one_line_and_130(tmp_path):
    """A terminal's Ctrl-C reaches the workers too: they ignore it, the driver cancels and closes quietly."""
    pytest.importorskip("distributed")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "memsim", "sweep", "--model", "fcnn_cel_ber0", "--dataset", "fashion-mnist-demo",
               "--ber", "0:0.3:40", "--trials", "10", "--scheduler", "local:2", "--quiet", "--out", str(out)]  # fmt: skip
    code, err = _interrupt(command, 1.0, group=True, ready=out / "sweep.csv", timeout=180)
    if code is None:
        pytest.skip("the sweep finished before the signal")
    _one_line(code, err, "SIGINT to the process group 1 s into a local:2 sweep")


def test_an_interrupt_a_library_swallowed_still_ends_130(monkeypatch, capsys):
    """Dask's gc callback catches a KeyboardInterrupt and only prints it: the command still ends as interrupted."""
    from memsim.cli import app

    def swallow(args, *rest):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        except KeyboardInterrupt:
            pass
        return 0

    monkeypatch.setattr(app, "_run", lambda argv, debug: swallow(argv))
    assert app.main(["profiles", "list"]) == 130
    assert capsys.readouterr().err.strip() == "memsim: interrupted"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_an_interrupt_a_library_turned_into_another_error_ends_130(monkeypatch, capsys):
    """numba's compiler, interrupted while it builds a kernel, raises RuntimeError("no compiled object yet") when
    it caches the kernel: after a counted interrupt, that is the interrupt (one line, 130), not a traceback."""
    from memsim.cli import app

    def convert(*_):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.5)
        except KeyboardInterrupt:
            raise RuntimeError("no compiled object yet for <Library '_realign_rows'>") from None
        return 0

    monkeypatch.setattr(app, "_run", convert)
    assert app.main(["profiles", "list"]) == 130
    assert capsys.readouterr().err.strip() == "memsim: interrupted"
    monkeypatch.setattr(app, "_run", lambda *_: (_ for _ in ()).throw(RuntimeError("a real bug")))
    with pytest.raises(RuntimeError, match="a real bug"):  # without an interrupt, an error stays an error
        app.main(["profiles", "list"])
