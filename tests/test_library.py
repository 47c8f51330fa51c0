"""mytasks as a library: a wheel installed in a fresh venv runs from any folder, a package of
your own registers tasks through an entry point, the template's package trains and passes the
contract check, a folder runs with task_path=, and the Hydra flags users know."""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tomllib

import pytest
from conftest import ROOT, TRAIN, run_python, run_train

from mytasks.testing import check_task
from mytasks.utils.config import task_files


def _run(*command, cwd, timeout=600, env=None) -> subprocess.CompletedProcess:
    p = subprocess.run([str(c) for c in command], cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))  # fmt: skip
    return p


def _pip(env_dir) -> list:
    """This environment's pip, installing into the venv ``env_dir``."""
    return [sys.executable, "-m", "pip", "--python", env_dir / "bin" / "python"]


def _rewards(out: str) -> list[float]:
    return [float(r) for r in re.findall(r"^epoch +\d+/\d+ +reward +(-?[\d.]+)", out, re.M)]


def test_pyproject_lists_every_package_and_carries_the_configs_and_assets():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        tool = tomllib.load(f)["tool"]["setuptools"]
    template = os.path.join(ROOT, "mytasks", "templates", "task")  # data: the files --new-task writes
    found = {os.path.relpath(os.path.dirname(p), ROOT).replace(os.sep, ".")
             for p in glob.glob(os.path.join(ROOT, "mytasks", "**", "__init__.py"), recursive=True)
             if not p.startswith(template)}  # fmt: skip
    assert set(tool["packages"]) == found | {"mytasks.cfg", "mytasks.assets"}
    assert tool["package-dir"] == {"mytasks.cfg": "cfg", "mytasks.assets": "assets"}


def _no_bytecode(folder, names):
    return [n for n in names if n == "__pycache__"]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh venv with mytasks installed from a wheel built from this checkout; the heavy
    dependencies come from the test environment's site-packages (a .pth file), not the registry."""
    import shutil

    base = tmp_path_factory.mktemp("library")
    source = base / "source"  # setuptools builds in the source tree: a copy, so the checkout is left as it is
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "mytasks", "cfg", "assets"):
        copy = shutil.copytree if os.path.isdir(os.path.join(ROOT, name)) else shutil.copy
        copy(os.path.join(ROOT, name), source / name, **({} if copy is shutil.copy else {"ignore": _no_bytecode}))
    wheels = base / "wheels"
    p = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, source, cwd=base)
    assert p.returncode == 0, p.stderr[-2000:]
    (wheel,) = glob.glob(str(wheels / "mytasks-*.whl"))
    env_dir = base / "venv"
    p = _run(sys.executable, "-m", "venv", "--without-pip", env_dir, cwd=base)  # pip and setuptools: this one's
    assert p.returncode == 0, p.stderr[-2000:]
    python = env_dir / "bin" / "python"
    site = _run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base).stdout.strip()
    # every site-packages folder this Python reads (a venv's own, the system's it may include, the user's)
    ours = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]
    with open(os.path.join(site, "test_environment.pth"), "w") as f:
        f.write("\n".join(ours) + "\n")
    p = _run(*_pip(env_dir), "install", "-q", "--no-deps", "--no-index", wheel, cwd=base)
    assert p.returncode == 0, p.stderr[-2000:]
    return env_dir


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_trains_plays_and_exports_from_any_folder(venv, tmp_path):
    python, mytasks = venv / "bin" / "python", venv / "bin" / "mytasks"
    where = _run(python, "-c", "import mytasks, os; print(mytasks.__file__)", cwd=tmp_path).stdout
    assert where.startswith(str(venv)), where  # the wheel's copy, not this checkout
    p = _run(mytasks, "task=Cartpole", "num_envs=64", "max_iterations=3", "headless=True", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    run_dir = re.search(r"run directory: (\S+)", p.stdout)[1]
    assert run_dir.startswith("runs/Cartpole_") and os.path.isdir(tmp_path / run_dir)
    assert f"play it back: mytasks task=Cartpole test=True checkpoint={run_dir}" in p.stdout
    p = _run(python, "-m", "mytasks", "test=True", f"checkpoint={run_dir}", "play_episodes=4", "export=True",
             "headless=True", cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert "played" in p.stdout
    assert os.path.isfile(tmp_path / run_dir / "exported" / "policy.onnx")
    p = _run(mytasks, "--cfg", "job", "task=Go2", "test=True", "checkpoint=assets/checkpoints/Go2.pth", cwd=tmp_path)
    shipped = re.search(r"^checkpoint: (\S+)$", p.stdout, re.M)[1]  # the shipped policy, in the installed package
    assert shipped.startswith(str(venv)) and os.path.isfile(shipped), shipped
    p = _run(python, "-m", "mytasks.cli", "--help", cwd=tmp_path)
    assert p.returncode == 0 and p.stdout.startswith("usage: python -m mytasks.cli"), p.stdout[:300]


@pytest.mark.slow
def test_a_package_with_an_entry_point_trains_lists_and_plays_with_the_plain_command(venv, tmp_path):
    python, mytasks = venv / "bin" / "python", venv / "bin" / "mytasks"
    p = _run(mytasks, "--new-task", "SwingUp", tmp_path / "swing", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    p = _run(*_pip(venv), "install", "-q", "--no-deps", "--no-build-isolation", tmp_path / "swing", cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    work = tmp_path / "work"
    work.mkdir()
    p = _run(mytasks, "--tasks", cwd=work)
    assert re.search(r"^SwingUp +package swing_up +swing_up\.task:SwingUp", p.stdout, re.M), p.stdout
    p = _run(mytasks, "task=SwingUp", "max_iterations=15", "num_envs=64", "headless=True", cwd=work)
    assert p.returncode == 0, p.stderr[-2000:]
    rewards = _rewards(p.stdout)
    assert sum(rewards[-3:]) / 3 > rewards[0] + 20, rewards
    p = _run(mytasks, "test=True", "checkpoint=latest", "task=SwingUp", "play_episodes=4", "export=True",
             "headless=True", cwd=work)  # fmt: skip
    assert p.returncode == 0 and "played" in p.stdout, p.stderr[-2000:]
    (exported,) = glob.glob(str(work / "runs" / "SwingUp_*" / "exported"))
    p = _run(python, "-m", "mytasks.sim2sim", exported, cwd=work)  # a pendulum on a motor: no joints to drive
    assert p.returncode == 2 and p.stderr.startswith("error: sim2sim runs robots whose policy drives joints"), p.stderr
    test_file = (tmp_path / "swing" / "tests" / "test_swing_up.py").read_text()
    assert 'check_task("SwingUp", task_path=PROJECT)' in test_file  # the template's own test, run here:
    check_task("SwingUp", task_path=str(tmp_path / "swing"))
    p = _run(mytasks, "task=SwingUP", cwd=work)
    assert p.returncode == 2 and "did you mean SwingUp?" in p.stderr, p.stderr


@pytest.mark.slow
def test_a_folder_runs_with_task_path_and_its_runs_play_with_it_named_again(tmp_path):
    p = run_train("--new-task", "Pendulum", str(tmp_path / "pend"), cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "Pendulum" not in task_files()  # nothing written into mytasks' own cfg/
    p = run_train("task=Pendulum", "task_path=pend", "max_iterations=15", "num_envs=64", "headless=True",
                  cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    rewards = _rewards(p.stdout)
    assert sum(rewards[-3:]) / 3 > rewards[0] + 20, rewards
    run_dir = re.search(r"run directory: (\S+)", p.stdout)[1]
    assert f"play it back: {TRAIN} task=Pendulum task_path={tmp_path / 'pend'} test=True" in p.stdout
    p = run_train("test=True", f"checkpoint={run_dir}", "play_episodes=4", cwd=tmp_path)
    assert p.returncode == 2 and f"add task_path={tmp_path / 'pend'} if you trust that folder" in p.stderr
    p = run_train("test=True", f"checkpoint={run_dir}", "play_episodes=4", f"task_path={tmp_path / 'pend'}",
                  cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]


def test_new_task_refuses_a_bad_name_or_a_folder_in_use(tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    p = run_python(os.path.join(ROOT, "train.py"), "--new-task", "Pendulum", str(tmp_path / "taken"), cwd=tmp_path)
    assert p.returncode == 2 and "is not an empty folder" in p.stderr
    assert os.listdir(tmp_path / "taken") == ["keep.txt"]
    p = run_python(os.path.join(ROOT, "train.py"), "--new-task", "my-task", cwd=tmp_path)
    assert p.returncode == 2 and "a task name is a class name" in p.stderr


def test_cfg_job_prints_the_composed_config_and_hydra_flags_say_what_they_do(tmp_path):
    train = os.path.join(ROOT, "train.py")
    p = run_python(train, "--cfg", "job", "task=Cartpole", "num_envs=32", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert re.search(r"^  env:\n    numEnvs: \$\{resolve_default:512", p.stdout, re.M)
    p = run_python(train, "--cfg", "job", "--resolve", "task=Cartpole", "num_envs=32", cwd=tmp_path)
    assert "numEnvs: 32" in p.stdout and "num_actors: 32" in p.stdout
    assert not os.path.exists(tmp_path / "runs")
    p = run_python(train, "--hydra-help", cwd=tmp_path)
    assert p.returncode == 0 and "-m, --multirun" in p.stdout
    p = run_python(train, "--config-dir", "x", "task=Cartpole", cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.strip().endswith("--hydra-help lists the ones it takes")
    p = run_python(train, "hydra.searchpath=[file:///tmp]", "task=Cartpole", cwd=tmp_path)
    assert p.returncode == 2 and "takes no hydra.* keys; task_path=<folder> adds your tasks' YAMLs" in p.stderr
    p = run_python(train, "--frobnicate", cwd=tmp_path)
    assert p.returncode == 2 and "unknown flag --frobnicate; --help lists the flags" in p.stderr


@pytest.mark.slow
def test_a_multirun_sweep_runs_each_combination_in_a_run_directory_of_its_own(tmp_path):
    p = run_train("-m", "task=Cartpole", "seed=1,2", "num_envs=16", "max_iterations=1", "headless=True",
                  cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert "sweep run 1/2: task=Cartpole seed=1" in p.stdout and "sweep run 2/2: task=Cartpole seed=2" in p.stdout
    runs = sorted(glob.glob(str(tmp_path / "runs" / "Cartpole_*")))
    assert len(runs) == 2
    seeds = {open(os.path.join(r, "config.yaml")).read().count("seed: 1\n") for r in runs}
    assert seeds == {0, 1}


# mytasks' layers, lowest first (DESIGN.md): a module imports from its own layer or below.
LAYERS = {"utils": 0, "sim": 1, "tasks": 2, "compat": 3, "testing": 3, "templates": 3, "rl": 4, "deploy": 4,
          "commands": 5, "cli": 5, "__main__": 5, "sim2sim": 5}  # fmt: skip


def _layer(module: str) -> int:
    parts = module.split(".")
    return 0 if len(parts) == 1 else LAYERS.get(parts[1], 0)


def test_the_layers_import_downwards_only():
    import ast

    upward = []
    for path in glob.glob(os.path.join(ROOT, "mytasks", "**", "*.py"), recursive=True):
        module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
        assert module == "mytasks" or module.split(".")[1] in LAYERS, f"{module} has no layer in LAYERS"
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):  # imports inside functions too
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            upward += [f"{module} -> {n}" for n in names
                       if n.startswith("mytasks.") and _layer(n) > _layer(module)]  # fmt: skip
    assert not upward, upward


def test_a_run_of_a_task_no_longer_installed_is_refused_in_one_line(tmp_path):
    train = os.path.join(ROOT, "train.py")
    p = run_python(train, "--cfg", "job", "task=Cartpole", cwd=tmp_path)
    run_dir = tmp_path / "runs" / "Ghost_07-12-00-00"
    (run_dir / "nn").mkdir(parents=True)
    (run_dir / "config.yaml").write_text(p.stdout.replace("name: Cartpole", "name: Ghost"))
    (run_dir / "nn" / "Ghost.pth").write_bytes(b"")
    p = run_python(train, "test=True", f"checkpoint={run_dir}", cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith(f"error: {run_dir} is a run of task Ghost, which nothing here provides")
    assert len(p.stderr.splitlines()) == 1
