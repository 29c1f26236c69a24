"""Lab scale with real components on loopback: the cells of a report run on a real Dask
scheduler with two worker processes and give the local run's summary, also on a worker that
cannot see the files (the files sent as bytes); `echem watch` processes a
folder that receives its files in two batches, equals a one-shot report, and stops on SIGTERM."""
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from echem import store
from echem.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"
FILES = ("sym-Li_cycling.csv", "sym-Li4Ag_PEIS_C01.mpt", "full-Li_cycling.csv")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")   # this checkout's echem
    return env


def _summary(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).sort_values("cell_id").reset_index(drop=True)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "exp"
    d.mkdir()
    for name in FILES:
        shutil.copy(SAMPLE / name, d)
    return d


@contextlib.contextmanager
def _cluster(cwd: Path, workers):
    """A Dask scheduler on a free loopback port and one worker process per item of ``workers``
    (each a function of the scheduler's address giving the worker's command); its address."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    common = dict(cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                               "127.0.0.1", "--port", str(port), "--no-dashboard"], **common)]
    procs += [subprocess.Popen(command(address), **common) for command in workers]
    try:
        from distributed import Client
        with Client(address, timeout="60s") as client:
            client.wait_for_workers(len(workers), timeout=120)
        yield address
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _worker(address: str, local: Path) -> list[str]:
    return [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
            "--no-dashboard", "--no-nanny", "--local-directory", str(local)]


@pytest.fixture
def cluster(tmp_path):
    if shutil.which("dask") is None and not _has_distributed():
        pytest.skip("dask.distributed is not installed")
    with _cluster(tmp_path, [lambda a: _worker(a, tmp_path)] * 2) as address:   # two workers
        yield address


def _has_distributed() -> bool:
    try:
        import distributed  # noqa: F401
        return True
    except ImportError:
        return False


def test_a_two_worker_cluster_gives_the_local_summary(folder, cluster, tmp_path):
    from echem import batch
    with batch.cluster_executor(cluster) as ex:   # the workers see the files: read in place
        assert ex.sees([(str(folder / n), (folder / n).stat().st_size) for n in FILES],
                       [str(tmp_path)])
        assert not ex.sees([(str(folder / FILES[0]), 1)], [])   # not the same file
    local, remote = tmp_path / "local", tmp_path / "cluster"
    assert main(["report", str(folder), "-o", str(local), "--db", str(tmp_path / "l.sqlite"),
                 "--jobs", "1", "--quiet"]) == 0
    assert main(["report", str(folder), "-o", str(remote), "--db", str(tmp_path / "c.sqlite"),
                 "--scheduler", cluster, "--quiet"]) == 0
    pd.testing.assert_frame_equal(_summary(local / "summary.csv"), _summary(remote / "summary.csv"))
    for cell in ("sym-Li_cycling", "full-Li_cycling"):
        assert (remote / "cells" / cell / "data.csv").stat().st_size == \
            (local / "cells" / cell / "data.csv").stat().st_size


def _can_hide(folder: Path) -> bool:
    """Whether a process can be given its own view of ``folder`` (an empty tmpfs over it, in a
    mount namespace of its own: ``unshare``), as a cluster node that does not mount the share."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", f"mount -t tmpfs none '{folder}'"],
                           capture_output=True)
    return probe.returncode == 0


@pytest.fixture
def blind_cluster(tmp_path):
    """A scheduler and one worker process that does not see ``tmp_path / "share"`` (an empty
    tmpfs over it in the worker's mount namespace): the files and the report folder there are
    out of its reach, as on a node that does not mount the lab's share."""
    share = tmp_path / "share"
    share.mkdir()
    if not _has_distributed():
        pytest.skip("dask.distributed is not installed")
    if not _can_hide(share):
        pytest.skip("no mount namespace here (unshare --mount needs root or user namespaces)")
    local = tmp_path / "worker"
    local.mkdir()

    def blind(address):
        command = " ".join(f"'{part}'" for part in _worker(address, local))
        return ["unshare", "--mount", "sh", "-c", f"mount -t tmpfs none '{share}' && exec {command}"]

    with _cluster(local, [blind]) as address:
        yield address, share


def test_a_worker_that_cannot_see_the_share_gets_the_files_as_bytes(blind_cluster, tmp_path):
    # the report equals the local one, CSV for CSV, with the files recorded at their own paths
    # and the kept Battery Data Format files written here: the worker read copies and sent back
    # what it wrote
    from echem import batch
    address, share = blind_cluster
    exp = share / "exp"
    exp.mkdir()
    for name in FILES:
        shutil.copy(SAMPLE / name, exp)
    local = batch.run(exp, out=share / "local", data_dir=share / "bdf-local")
    with batch.cluster_executor(address) as cluster:
        files = [(str(exp / n), (exp / n).stat().st_size) for n in FILES]
        assert not cluster.sees(files, [str(share)])          # the worker is blind to the share
        remote = batch.run(exp, out=share / "cluster", executor=cluster, data_dir=share / "bdf")
    pd.testing.assert_frame_equal(_summary(share / "local" / "summary.csv"),
                                  _summary(share / "cluster" / "summary.csv"))
    for csv in sorted((share / "local" / "cells").rglob("*.csv")):
        twin = share / "cluster" / csv.relative_to(share / "local")
        assert twin.read_bytes() == csv.read_bytes(), twin
    figures = {p.relative_to(share / "local") for p in (share / "local").rglob("*.png")}
    assert figures and figures == {p.relative_to(share / "cluster")
                                   for p in (share / "cluster").rglob("*.png")}
    assert sorted(p.name for p in (share / "bdf").iterdir()) == \
        sorted(p.name for p in (share / "bdf-local").iterdir())
    assert [[f.path for f in c.files] for c in remote.cells] == \
        [[f.path for f in c.files] for c in local.cells]
    assert all(str(exp) in f.path for c in remote.cells for f in c.files)
    assert all(not c.outputs for c in remote.cells)


def test_an_absent_scheduler_is_a_clean_error(folder, tmp_path, capsys):
    assert main(["report", str(folder), "-o", str(tmp_path / "o"), "--db", str(tmp_path / "d.sqlite"),
                 "--scheduler", f"tcp://127.0.0.1:{_free_port()}"]) == 1
    assert "no Dask scheduler answers" in capsys.readouterr().err


def test_watch_processes_files_as_they_arrive_and_stops_on_sigterm(folder, tmp_path):
    one_shot = tmp_path / "one-shot"
    assert main(["report", str(folder), "-o", str(one_shot), "--db", str(tmp_path / "o.sqlite"),
                 "--jobs", "1", "--quiet"]) == 0
    watched = tmp_path / "lab"
    (watched / "exp").mkdir(parents=True)
    out, dbp = tmp_path / "out", tmp_path / "w.sqlite"
    log = open(tmp_path / "watch.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", "from echem.cli import entry; entry()", "watch",
                             str(watched), "-o", str(out), "--db", str(dbp), "--settle", "1"],
                            stdout=log, stderr=subprocess.STDOUT, env=_env())
    try:
        for batch in (FILES[:2], FILES[2:]):           # files arrive in two batches
            for name in batch:
                shutil.copy(folder / name, watched / "exp" / name)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                summary = out / "exp" / "summary.csv"
                if summary.exists() and len(pd.read_csv(summary)) == \
                        len([f for f in (watched / "exp").iterdir()]):
                    break
                time.sleep(0.5)
        got = _summary(out / "exp" / "summary.csv")
        pd.testing.assert_frame_equal(got, _summary(one_shot / "summary.csv"))
        with store.open(dbp) as s:
            assert sorted(s.latest()["cell_id"]) == sorted(got["cell_id"])
        # every file taken is kept as Battery Data Format beside the database, and reads back
        kept = sorted((tmp_path / "bdf").glob("*.bdf.parquet"))
        assert sorted(k.name.split(".")[0] for k in kept) == sorted(Path(f).stem for f in FILES)
        import echem
        back = echem.read(next(k for k in kept if k.name.startswith("full-Li_cycling")))
        original = echem.read(folder / "full-Li_cycling.csv")
        assert len(back.data) == len(original.data)
        assert (back.data["voltage_V"].to_numpy() == original.data["voltage_V"].to_numpy()).all()
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0 and time.monotonic() - t0 < 20
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    lines = (tmp_path / "watch.log").read_text().splitlines()
    assert sum(" -> cell " in line for line in lines) >= len(FILES)   # one line per file processed


def test_watch_once_takes_what_is_there_and_analyses_only_what_changed(folder, tmp_path):
    out, dbp = tmp_path / "out", tmp_path / "w.sqlite"
    lines: list[str] = []
    from echem.watch import Watcher
    with store.open(dbp) as s:
        w = Watcher(folder, out, store=s, settle_s=0.0, log=lines.append)
        assert w.step(final=True) == 1
        first = len(lines)
        assert first == len(FILES)
        assert w.step(final=True) == 0               # nothing changed: nothing done
        data = folder / "full-Li_cycling.csv"
        data.write_bytes(data.read_bytes())            # same bytes, new time: no new analysis
        os.utime(data, (time.time() + 5, time.time() + 5))
        w.step(final=True)
        assert len(lines) == first
        text = data.read_text().splitlines(keepends=True)
        data.write_text("".join(text[:len(text) // 2]))   # the test's file, cut: only it again
        w.step(final=True)
        assert [line.split(" -> cell ")[1].split(":")[0] for line in lines[first:]] == ["full-Li_cycling"]
