"""What the project writes survives a kill; run directories never collide; checkpoints are found."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import ROOT

from mytasks.rl import checkpoints
from mytasks.utils import run_config
from mytasks.utils.files import atomic_write_text

_WRITER = """
import sys, torch
sys.path.insert(0, {root!r})
from mytasks.rl import checkpoints
checkpoints.save({{"model": {{"w": torch.ones(3)}}, "epoch": 1}}, {path!r})
print("saved v1", flush=True)
big = {{"model": {{"w": torch.randn(60_000_000)}}, "epoch": 2}}  # 240 MB: takes a while to write
while True:
    checkpoints.save(big, {path!r})
"""


def test_sigkill_while_saving_a_large_checkpoint_leaves_the_old_one_loadable(tmp_path):
    path = str(tmp_path / "nn.pth")
    proc = subprocess.Popen([sys.executable, "-c", _WRITER.format(root=ROOT, path=path)], stdout=subprocess.PIPE,
                            text=True)  # fmt: skip
    assert proc.stdout.readline().strip() == "saved v1"
    tmp = tmp_path / f".nn.pth.tmp-{proc.pid}"
    deadline = time.time() + 120
    while not (tmp.exists() and tmp.stat().st_size > 20_000_000):  # in the middle of writing v2
        assert time.time() < deadline and proc.poll() is None
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert tmp.exists() and tmp.stat().st_size < 240_000_000  # killed mid-write
    state = checkpoints.load(path)
    assert state["epoch"] == 1 and torch.equal(state["model"]["w"], torch.ones(3))
    tmp.unlink()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = str(tmp_path / "config.yaml")
    atomic_write_text(path, "old: 1\n")

    def broken(f):
        f.write(b"new: ")
        raise OSError("disk full")

    from mytasks.utils.errors import WriteFailed
    from mytasks.utils.files import atomic_write

    with pytest.raises(WriteFailed, match=r"^cannot write .*/config.yaml: disk full$"):  # one line, path and cause
        atomic_write(path, broken)
    assert open(path).read() == "old: 1\n"
    assert os.listdir(tmp_path) == ["config.yaml"]


def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path, monkeypatch):
    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2026, 12, 1, 21, 5, 3)

    monkeypatch.setattr(run_config.datetime, "datetime", Frozen)
    made = []
    threads = [threading.Thread(target=lambda: made.append(run_config.make_run_dir("Cartpole", str(tmp_path))))
               for _ in range(8)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = sorted(os.path.basename(p) for p in made)
    assert names == sorted(["Cartpole_01-21-05-03"] + [f"Cartpole_01-21-05-03_{k}" for k in range(2, 9)])


def _touch_checkpoint(path: str, epoch: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    checkpoints.save({"model": {}, "epoch": epoch}, path)


def test_a_run_directory_plays_its_best_and_resumes_from_its_last(tmp_path):
    nn = tmp_path / "run" / "nn"
    (tmp_path / "run" / "config.yaml").parent.mkdir()
    (tmp_path / "run" / "config.yaml").write_text("task: {name: Cartpole}\n")
    saved = {"last_Cartpole_ep_100_rew_3.pth": 100, "Cartpole.pth": 60, "last_Cartpole_ep_25_rew_1.pth": 25,
             "last_Cartpole_ep_125_interrupted.pth": 125}  # fmt: skip
    for name, epoch in saved.items():
        _touch_checkpoint(str(nn / name), epoch)
    run = str(tmp_path / "run")
    assert checkpoints.resolve(run, "Cartpole") == str(nn / "Cartpole.pth")
    assert checkpoints.resolve(run, "Cartpole", last=True) == str(nn / "last_Cartpole_ep_125_interrupted.pth")
    assert run_config.run_dir_of(str(nn / "Cartpole.pth")) == run


def test_latest_is_the_newest_run_of_the_task(tmp_path):
    runs = tmp_path / "runs"
    for i, (name, task) in enumerate((("a", "Cartpole"), ("b", "Go2"), ("c", "Cartpole"), ("d", "Cartpole"))):
        d = runs / name
        d.mkdir(parents=True)
        (d / "config.yaml").write_text(f"task: {{name: {task}}}\n")
        os.utime(d / "config.yaml", (1000 + i, 1000 + i))
        if name != "d":  # d never saved a checkpoint
            _touch_checkpoint(str(d / "nn" / "x.pth"), 1)
    assert run_config.latest_run("Cartpole", str(runs)) == str(runs / "c")
    assert run_config.latest_run("Go2", str(runs)) == str(runs / "b")
