"""What a careless or hostile input must not do: delete a folder, run code from a run
directory, hang on a failing disk or a closed browser, hide a blow-up. Run through
``python train.py`` as a user runs it."""

from __future__ import annotations

import glob
import os
import re
import resource
import shutil
import subprocess
import time

import pytest
import torch
import yaml
from conftest import CPU, read_until_epoch, run_train, start_train

pytestmark = pytest.mark.slow

CARTPOLE = ["task=Cartpole", "headless=True", "num_envs=16", *CPU]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A short Cartpole run (16 envs, 4 epochs) with a best and a last checkpoint."""
    cwd = tmp_path_factory.mktemp("reliability")
    p = run_train(*CARTPOLE, "max_iterations=4", "train.params.config.save_best_after=1", "experiment=r", cwd=str(cwd))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    (run_dir,) = glob.glob(str(cwd / "runs" / "r_*"))
    return run_dir


def _copy_run(run: str, to) -> str:
    dest = os.path.join(str(to), "runs", os.path.basename(run))
    shutil.copytree(run, dest)
    return dest


def _refused(cwd, *args: str) -> str:
    """``train.py ARGS`` in this process (the same ``main``, for speed), from ``cwd``: it must
    end with exit code 2 and one error line, which is returned."""
    import contextlib
    import io

    from mytasks.cli import main

    err, here = io.StringIO(), os.getcwd()
    os.chdir(str(cwd))
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main([*args, *CPU, "viewer=none"])
    finally:
        os.chdir(here)
    assert code == 2, err.getvalue()[-2000:]
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err.getvalue(), err.getvalue()[-2000:]
    return errors[0]


def _one_line(p: subprocess.CompletedProcess, code: int = 2) -> str:
    assert p.returncode == code, p.stdout[-1500:] + p.stderr[-1500:]
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in p.stderr, p.stderr[-2000:]
    return errors[0]


# ---------------------------------------------------------------------------------- export


def _tree(folder) -> dict:
    return {os.path.relpath(p, folder): os.path.getmtime(p) for p in glob.glob(f"{folder}/**", recursive=True)}


def test_export_into_a_folder_that_is_not_an_export_leaves_it_untouched(run, tmp_path):
    mine = tmp_path / "mine"
    (mine / "notes").mkdir(parents=True)
    (mine / "notes" / "thesis.tex").write_text("years of work\n")
    before = _tree(mine)
    for target in (str(mine), ".", run):  # a folder of the user's, the working directory, the played run
        line = _refused(tmp_path, "test=True", f"checkpoint={run}", "export=True", f"export_dir={target}")
        assert f"error: export_dir={target} is a folder that is not an earlier export of mytasks" in line
    assert _tree(mine) == before and (mine / "notes" / "thesis.tex").read_text() == "years of work\n"
    assert os.path.isfile(os.path.join(run, "nn", "r.pth"))
    (tmp_path / "a-file").write_text("x")
    line = _refused(tmp_path, "test=True", f"checkpoint={run}", "export=True", "export_dir=a-file")
    assert "error: export_dir=a-file is a file" in line
    assert (tmp_path / "a-file").read_text() == "x"


def test_an_export_through_a_link_replaces_only_its_own_earlier_export(run, tmp_path):
    target = tmp_path / "exports" / "cartpole"
    link = tmp_path / "latest-export"
    os.makedirs(target.parent)
    os.symlink(target, link)
    stale = target.parent / ".cartpole.partial-999999999-abc"  # what an export killed midway left
    stale.mkdir()
    (stale / ".mytasks-export").write_text("x")
    for _ in range(2):  # the second replaces the first
        p = run_train("test=True", f"checkpoint={run}", "export=True", f"export_dir={link}", "play_episodes=0", *CPU,
                      cwd=str(tmp_path))  # fmt: skip
        assert p.returncode == 0, p.stderr[-2000:]
        assert f"exported to {link}" in p.stdout
    assert os.path.islink(link) and os.readlink(link) == str(target)
    assert sorted(os.listdir(target)) == [".mytasks-export", "deploy.yaml", "policy.onnx", "policy.pt"]
    assert os.listdir(target.parent) == ["cartpole"]  # neither the stale folder nor a hidden old export is left


# --------------------------------------------------------------------- a run directory is data


def _fake_checkout(root, marker) -> str:
    """An IsaacGymEnvs-shaped folder whose task module, if imported, creates ``marker``."""
    pkg = root / "isaacgymenvs"
    os.makedirs(pkg / "tasks")
    os.makedirs(pkg / "cfg" / "task")
    os.makedirs(pkg / "cfg" / "train")
    (pkg / "tasks" / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass Cartpole(object):\n    pass\n")
    return str(root)


def test_a_run_config_naming_a_checkout_imports_nothing_unless_the_command_names_it(run, tmp_path):
    marker = tmp_path / "marker"
    checkout = _fake_checkout(tmp_path / "checkout", marker)
    played = _copy_run(run, tmp_path)
    cfg = yaml.safe_load(open(os.path.join(played, "config.yaml")))
    cfg["ige_root"] = checkout
    with open(os.path.join(played, "config.yaml"), "w") as f:
        yaml.safe_dump(cfg, f)
    for args in (["test=True"], [], ["test=True", "export=True"]):
        line = _refused(tmp_path, *args, f"checkpoint={played}")
        assert f"is a run of task Cartpole from the IsaacGymEnvs checkout {checkout}" in line
        assert f"add ige_root={checkout} if you trust that folder" in line
    (tmp_path / "runs" / "unrelated").mkdir()
    assert "is a run of task Cartpole from the IsaacGymEnvs checkout" in _refused(
        tmp_path, "task=Cartpole", "test=True", "checkpoint=latest"
    )
    assert not marker.exists()


def _saved_with(run: str, to, learner: str, edit) -> str:
    """A copy of ``run`` whose saved config is the ``learner`` train config, edited by ``edit``."""
    from mytasks.utils.config import compose
    from mytasks.utils.run_config import save_run_config

    dest = _copy_run(run, to)
    cfg = compose(["task=Cartpole", f"learner={learner}", *CPU])
    edit(cfg.train.params[learner])
    save_run_config(cfg, [], dest)
    entries = {"rsl_rl": {"actor_state_dict": {}, "iter": 4}, "skrl": {"modules": {}}}[learner]
    for old in glob.glob(os.path.join(dest, "nn", "*.pth")):  # the learner's own kind of checkpoint, which it loads
        torch.save({**entries, "learner": learner, "epoch": 4, "spaces": {"obs": 4, "actions": 1}}, old)
    return dest


def test_rsl_rl_and_skrl_settings_that_name_code_are_refused(run, tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "planted.py").write_text(f"open({str(marker)!r}, 'w').close()\nclass PPO:\n    pass\n")
    env = {"PYTHONPATH": str(tmp_path / "lib")}

    def rsl(c):
        c.algorithm.class_name = "planted:PPO"

    def skrl(c):
        c.agent.exploration_noise = f"open({str(marker)!r}, 'w')"

    def skrl_model(c):
        c.models.policy.output = f"ACTIONS if open({str(marker)!r}, 'w') else ACTIONS"

    for learner, edit, says in (("rsl_rl", rsl, "train.params.rsl_rl.algorithm.class_name is 'planted:PPO'"),
                                ("skrl", skrl, "train.params.skrl.agent.exploration_noise is"),
                                ("skrl", skrl_model, "train.params.skrl.models.policy.output is")):  # fmt: skip
        played = _saved_with(run, tmp_path / learner / edit.__name__, learner, edit)
        for args in (["test=True"], ["max_iterations=8"]):
            p = run_train(*args, *CPU, f"checkpoint={played}", cwd=tmp_path, env={**os.environ, **env}, timeout=300)
            assert says in _one_line(p)
    assert not marker.exists()
    assert not glob.glob(str(tmp_path / "runs" / "Cartpole_*"))  # no resumed run left behind


def _bomb(levels: int = 9) -> str:
    text = "task: {name: Cartpole}\na0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, levels):
        text += f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    return text


def test_a_yaml_alias_bomb_in_a_run_is_refused_at_once(run, tmp_path):
    bomb = _bomb()
    assert len(bomb.encode()) < 600
    played = _copy_run(run, tmp_path)
    with open(os.path.join(played, "config.yaml"), "w") as f:
        f.write(bomb)
    start = time.monotonic()
    line = _refused(tmp_path, "test=True", f"checkpoint={played}")
    assert "config.yaml is refused: it expands to more than 200,000 values through its aliases" in line
    line = _refused(tmp_path, "task=Cartpole", "test=True", "checkpoint=latest")
    assert "checkpoint=latest: no run of task Cartpole" in line  # the bombed run is passed over
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("text", ["", "- a list\n", "train: {}\nseed: 1\n"])
def test_a_run_config_that_is_not_one_is_the_cannot_be_read_line(run, tmp_path, text):
    played = _copy_run(run, tmp_path)
    with open(os.path.join(played, "config.yaml"), "w") as f:
        f.write(text)
    assert "config.yaml cannot be read" in _refused(tmp_path, "test=True", f"checkpoint={played}")


def test_a_value_of_the_wrong_kind_in_a_run_config_is_one_line(run, tmp_path):
    played = _copy_run(run, tmp_path)
    path = os.path.join(played, "config.yaml")
    text = open(path).read()
    assert re.search(r"^    maxEffort: ", text, re.M)
    with open(path, "w") as f:
        f.write(re.sub(r"^    maxEffort: .*$", "    maxEffort: lots", text, flags=re.M))
    line = _refused(tmp_path, "test=True", f"checkpoint={played}")
    assert "config.yaml: task.env.maxEffort must be a number (it is 400.0 in the YAML), got 'lots'" in line


def test_a_config_beside_a_checkpoint_outside_a_run_is_not_taken_for_its_run(run, tmp_path):
    shutil.copy(os.path.join(run, "nn", "r.pth"), tmp_path / "policy.pth")
    (tmp_path / "config.yaml").write_text("task: {name: Go2}\ntrain: {}\n")  # someone else's file
    p = run_train("task=Cartpole", "test=True", "checkpoint=policy.pth", "play_episodes=4", *CPU, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr[-2000:]
    assert re.search(r"^played \d+ episodes", p.stdout, re.M)


# ---------------------------------------------------------------------------- checkpoints


def test_damaged_and_foreign_checkpoints_are_one_line_each(run, tmp_path):
    from mytasks.rl import checkpoints

    state = checkpoints.load(os.path.join(run, "nn", "r.pth"))
    assert (state["learner"], state["task"], state["spaces"]) == ("rl_games", "Cartpole", {"obs": 4, "actions": 1})
    wrong = dict(state, model={k: v for k, v in state["model"].items() if k != "a2c_network.mu.bias"})
    torch.save(wrong, tmp_path / "wrong.pth")
    torch.save(dict(state, epoch=-100), tmp_path / "negative.pth")
    legacy = {k: v for k, v in state.items() if k not in ("learner", "task", "spaces")}  # as rl-games writes them
    torch.save(legacy, tmp_path / "legacy.pth")
    line = _refused(tmp_path, "task=Cartpole", "test=True", "checkpoint=wrong.pth", "num_envs=4")
    assert "wrong.pth does not fit this run's networks (RuntimeError" in line
    line = _refused(tmp_path, "task=Cartpole", "checkpoint=negative.pth", "max_iterations=8")
    assert "negative.pth is damaged: its epoch -100 is not what mytasks writes" in line
    line = _refused(tmp_path, "task=Cartpole", "learner=rsl_rl", "test=True", "checkpoint=legacy.pth")
    assert "play or resume it with learner=rl_games" in line


def test_a_pipe_or_a_folder_named_pth_is_no_checkpoint(run, tmp_path):
    played = _copy_run(run, tmp_path)
    os.mkfifo(os.path.join(played, "nn", "last_r_ep_900.pth"))
    os.mkdir(os.path.join(played, "nn", "last_r_ep_999.pth"))
    p = run_train(f"checkpoint={played}", "max_iterations=5", *CPU, cwd=str(tmp_path), timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "resuming from" in p.stdout and "last_r_ep_4.pth" in p.stdout
    line = _refused(tmp_path, "task=Cartpole", "test=True", f"checkpoint={played}/nn/last_r_ep_900.pth")
    assert "is not a regular file" in line


def test_a_pickle_calling_a_blocked_module_names_trust_checkpoint(tmp_path):
    class System:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path}/marker",))

    torch.save({"model": System()}, tmp_path / "system.pth")
    line = _refused(tmp_path, "task=Cartpole", "test=True", "checkpoint=system.pth")
    assert "holds objects other than tensors and numbers (posix.system)" in line and "trust_checkpoint=True" in line
    assert not (tmp_path / "marker").exists()


# ----------------------------------------------------------------------- disks and signals


def test_a_file_size_limit_ends_training_with_one_line_and_keeps_the_checkpoints(tmp_path):
    """tensorboardX's writer thread died on the limit and the next add_scalar blocked for ever."""
    proc = start_train(*CARTPOLE, "max_iterations=100000", "train.params.config.save_frequency=20",
                       "train.params.config.save_best_after=1", cwd=str(tmp_path))  # fmt: skip
    try:
        read_until_epoch(proc, 1)  # the kernels are compiled and cached: only the run's files grow now
        limit = 96 << 10
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (limit, limit))
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err
    expected = (r"error: cannot write TensorBoard summaries to runs/Cartpole_[\d_-]+/summaries: File too large; "
                r"checkpoint saved: runs/Cartpole_[\d_-]+/nn/last_Cartpole_ep_\d+_interrupted.pth$")  # fmt: skip
    assert re.match(expected, errors[0]), errors[0]
    saved = errors[0].rsplit("checkpoint saved: ", 1)[1]
    from mytasks.rl import checkpoints

    assert checkpoints.load(str(tmp_path / saved))["epoch"] > 20
    assert len(glob.glob(str(tmp_path / "runs" / "*" / "nn" / "last_Cartpole_ep_*.pth"))) >= 2


# --------------------------------------------------------------------------- play and values


def test_play_that_blows_up_in_every_episode_says_so(run, tmp_path):
    p = run_train("test=True", f"checkpoint={run}", "task.env.maxEffort=1e12", "play_episodes=8", *CPU,
                  cwd=str(tmp_path))  # fmt: skip
    line = _one_line(p)
    # (all of them, or more than the fraction: with the speed bound, bodies flung off count too)
    assert re.match(r"error: play blew up: \d+ of \d+ episodes ended in a blow-up \((non-finite observations|bodies "
                    r"faster than nan_guard.max_body_speed), env \d+ first\)"
                    r"(, more than nan_guard.max_fraction 0.5)?\. Check the checkpoint", line)  # fmt: skip


@pytest.mark.parametrize("learner", ["rsl_rl", "skrl"])
def test_save_frequency_zero_saves_the_last_checkpoint_only(learner, tmp_path):
    p = run_train(*CARTPOLE, f"learner={learner}", "max_iterations=3", "train.params.config.save_frequency=0",
                  cwd=str(tmp_path))  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    saved = {os.path.basename(f) for f in glob.glob(str(tmp_path / "runs" / "*" / "nn" / "*.pth"))}
    first = {"last_Cartpole_ep_1.pth"} if learner == "rsl_rl" else set()  # rsl_rl saves its first iteration too
    assert saved == {"last_Cartpole_ep_3.pth"} | first


def test_a_skrl_model_expression_of_its_own_tokens_passes_and_code_does_not():
    from omegaconf import OmegaConf

    from mytasks.rl import skrl_learner
    from mytasks.utils.config import compose, resolved
    from mytasks.utils.errors import UserError

    cfg = resolved(compose(["task=Cartpole", "learner=skrl", *CPU]))
    skrl_learner.check_settings(cfg)  # the shipped train file
    for where, value in (("models.policy.output", "2 * tanh(ACTIONS)"),
                         ("models.value.network[0].input", "concatenate([OBSERVATIONS, STATES])")):  # fmt: skip
        c = cfg.copy()
        OmegaConf.update(c, f"train.params.skrl.{where}".replace("[0]", ".0"), value)
        skrl_learner.check_settings(c)
    for where, value in (("models.policy.output", "__import__('os').getcwd()"),
                         ("models.policy.output", "ACTIONS.__class__"),
                         ("models.policy.network.0.name", "net; import os"),
                         ("models.policy.network.0.layers", ["os.system('x')"]),
                         ("agent.state_preprocessor", "RunningStandardScaler if open('x') else None")):  # fmt: skip
        c = cfg.copy()
        OmegaConf.update(c, f"train.params.skrl.{where}", value)
        with pytest.raises(UserError):
            skrl_learner.check_settings(c)


def test_a_vecnormalize_of_the_wrong_shape_is_one_line_not_broadcast():
    from types import SimpleNamespace

    from stable_baselines3.common.running_mean_std import RunningMeanStd

    from mytasks.rl import checkpoints, sb3_learner
    from mytasks.utils.errors import UserError

    norm = SimpleNamespace(obs_rms=RunningMeanStd(shape=(4,)), ret_rms=RunningMeanStd(shape=()))
    saved = {"obs_rms": {"mean": torch.zeros(1), "var": torch.ones(1), "count": 10.0}}
    with pytest.raises(UserError, match=r"sb3.pth does not fit this run's networks \(ValueError: vecnormalize.obs_rms "
                                        r"has shape \(1,\), the task's is \(4,\)\)"):  # fmt: skip
        with checkpoints.restoring("sb3.pth"):
            sb3_learner._restore_norm(norm, saved)
    assert norm.obs_rms.mean.shape == (4,)


def test_an_error_inside_torchscript_is_one_line_naming_the_script_line():
    """Task code under @torch.jit.script fails with a message whose first line says only that
    TorchScript failed; train.py's line gives the error and the task's line instead."""
    from mytasks.utils.errors import crash_line

    @torch.jit.script
    def hold(count: torch.Tensor, reached: torch.Tensor) -> torch.Tensor:
        return torch.where(reached, count + 1, torch.zeros_like(count))

    with pytest.raises(RuntimeError) as caught:
        hold(torch.zeros(2, dtype=torch.long), torch.ones(2, dtype=torch.long))
    line = crash_line(caught.value)
    assert line.startswith("where expected condition to be a boolean tensor"), line
    assert f"{os.path.abspath(__file__)}:" in line and "\n" not in line
