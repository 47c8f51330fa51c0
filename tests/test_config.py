"""Hydra composition of cfg/ with IsaacGymEnvs' keys, resolvers and overrides."""

from __future__ import annotations

import os
import re

import pytest
from omegaconf import OmegaConf

from mytasks.rl.runner import fit_minibatch, train_params
from mytasks.utils.config import UserError, compose, register_resolvers, resolved
from mytasks.utils.paths import CONFIG_DIR
from mytasks.utils.schema import TOP_LEVEL, _check_key


def test_defaults_pick_task_and_train_files():
    cfg = compose([])
    assert cfg.task.name == "Cartpole" and cfg.task_name == "Cartpole"
    assert cfg.physics_engine == "newton" and cfg.task.physics_engine == "newton"
    assert cfg.task.env.numEnvs == 512
    c = cfg.train.params.config
    assert (c.name, c.num_actors, c.max_epochs, c.horizon_length, c.minibatch_size) == ("Cartpole", 512, 100, 16, 8192)
    assert c.torch_compile is False and c.value_bootstrap is True and c.player.games_num > 0
    assert cfg.train.params.seed == 42 and cfg.train.params.load_checkpoint is False


def test_top_level_overrides_flow_into_task_and_train():
    cfg = compose(["num_envs=64", "seed=7", "max_iterations=5", "experiment=mine", "pipeline=cpu",
                   "sim_device=cpu", "checkpoint=some.pth"])  # fmt: skip
    assert cfg.task.env.numEnvs == 64 and cfg.train.params.config.num_actors == 64
    assert cfg.train.params.seed == 7 and cfg.train.params.config.max_epochs == 5
    assert cfg.train.params.config.name == "mine"
    assert cfg.task.sim.use_gpu_pipeline is False and cfg.task.sim.physx.use_gpu is False
    assert cfg.train.params.load_checkpoint is True and cfg.train.params.load_path == "some.pth"


def test_dotted_overrides_reach_task_and_train():
    cfg = compose(["task.env.maxEffort=100.0", "train.params.config.learning_rate=0.001", "+task.env.extra=3"])
    assert cfg.task.env.maxEffort == 100.0
    assert cfg.train.params.config.learning_rate == 0.001
    assert cfg.task.env.extra == 3


@pytest.mark.parametrize(
    "override, message",
    [
        ("task=Nope", "unknown task 'Nope'; registered tasks: Cartpole"),
        ("num_envs=abc", "num_envs must be a whole number"),
        ("num_envs=0", "num_envs must be at least 1"),
        ("seed=x", "seed must be a whole number"),
        ("max_iterations=many", "max_iterations must be a whole number"),
        ("max_iterations=-1", "max_iterations must be at least 1"),
        ("physics_engine=bullet", "physics_engine must be one of newton, physx, got 'bullet'"),
        ("pipeline=tpu", "pipeline must be one of gpu, cpu"),
        ("sim_device=banana", "sim_device must be cpu, cuda or cuda:N"),
        ("rl_device=tpu", "rl_device must be cpu, cuda or cuda:N"),
        ("headless=maybe", "headless must be True or False, got 'maybe'"),
        ("test=yes", "test must be True or False, got 'yes'"),
        ("play_episodes=-1", "play_episodes must be at least 0"),
        ("experiment=../x", "experiment must be a plain name"),
        ("experiment=/tmp/x", "experiment must be a plain name"),
        ("experiment=a/b", "experiment must be a plain name"),
        ("nan_guard.epochs=0", "nan_guard.epochs must be at least 1"),
        ("nosuchkey=1", "unknown key 'nosuchkey'"),
        ("+nosuchkey=1", "unknown key 'nosuchkey'"),
        ("headles=True", "unknown key 'headles'; did you mean headless?"),
        ("task.env.maxEfort=10", "unknown key 'task.env.maxEfort'; did you mean task.env.maxEffort?"),
        ("train.params.config.learning_rate=abc", "train.params.config.learning_rate must be a number"),
        ("train.params.config.learning_rate=-1", "train.params.config.learning_rate must be above 0"),
        ("train.params.config.gamma=1.5", "train.params.config.gamma must be above 0 and at most 1"),
        ("train.params.config.horizon_length=2.5", "train.params.config.horizon_length must be a whole number"),
        ("train.params.config.mini_epochs=0", "train.params.config.mini_epochs must be at least 1"),
        ("task.env.clipActions=[1]", "task.env.clipActions must be a number"),
        ("test=True", "test=True needs a checkpoint"),
    ],
)
def test_bad_input_is_one_clear_error(override, message):
    with pytest.raises(UserError, match=re.escape(message)):
        compose([override])


def test_an_unknown_key_with_no_near_name_says_how_to_add_one():
    with pytest.raises(UserError, match=re.escape("to add one that your code reads: +task.env.zzzz=")):
        compose(["task.env.zzzz=1"])
    assert compose(["+task.env.zzzz=1"]).task.env.zzzz == 1


def test_schema_covers_exactly_the_keys_of_config_yaml():
    raw = OmegaConf.load(os.path.join(CONFIG_DIR, "config.yaml"))
    keys = {k for k in raw if k not in ("defaults", "hydra")}
    assert keys | {"pbt"} == set(TOP_LEVEL)  # pbt: an IsaacGymEnvs checkout's group, from the defaults list
    for name, key in TOP_LEVEL.items():  # each default passes its own check
        if name not in ("task_name", "wandb_name", "pbt"):
            _check_key(name, key, raw[name])


def test_the_config_is_kept_unresolved_for_recomposition():
    cfg = compose(["task=Go2", "num_envs=8"])
    assert OmegaConf.is_interpolation(cfg.task.env.randomization, "pushRobots")
    assert cfg.task.env.randomization.pushRobots is True
    cfg.test = True  # what play sets: the saved tree resolves again with play's values
    assert cfg.task.env.randomization.pushRobots is False
    assert resolved(cfg).task.env.numEnvs == 8


def test_resolvers():
    register_resolvers()
    register_resolvers()  # a second registration must not raise
    c = OmegaConf.create({"a": "", "b": "GPU", "x": "${resolve_default:512,${a}}", "y": "${eq:${b},gpu}",
                          "z": "${contains:cuda,cuda:0}", "w": "${if:${y},on,off}"})  # fmt: skip
    assert (c.x, c.y, c.z, c.w) == (512, True, True, "on")


def test_minibatch_is_adjusted_to_divide_the_batch(capsys):
    cfg = compose(["num_envs=100"])
    params = train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    assert params["config"]["minibatch_size"] == 1600  # larger than the batch: the whole batch
    assert "minibatch_size 8192 is larger than the batch of 1600" in capsys.readouterr().out
    assert params["config"]["device_name"] == "cpu" and params["torch_threads"] >= 1


def test_a_central_value_minibatch_is_adjusted_too(capsys):
    """G1's critic trains as a central value with its own minibatch (24576 at 4096 envs)."""
    cfg = compose(["task=G1", "num_envs=16"])
    params = train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    assert params["config"]["minibatch_size"] == params["config"]["central_value_config"]["minibatch_size"] == 384
    assert "central_value_config.minibatch_size 24576 is larger than the batch of 384" in capsys.readouterr().out


@pytest.mark.parametrize(
    "minibatch, horizon, envs, expected",
    [(7, 16, 256, 8), (8192, 16, 256, 4096), (24576, 24, 4096, 24576), (1000, 16, 100, 800), (100, 16, 97, 97)],
)
def test_minibatch_fallback_is_the_nearest_divisor_no_smaller_than_half(minibatch, horizon, envs, expected):
    assert fit_minibatch(minibatch, horizon, envs) == expected
    assert (horizon * envs) % expected == 0 and 2 * expected >= minibatch


def test_minibatch_without_a_near_divisor_is_refused_with_the_valid_sizes():
    message = "set train.params.config.minibatch_size to one of the nearest (1, 997)"
    with pytest.raises(UserError, match=re.escape(message)):
        fit_minibatch(100, 1, 997)


def test_play_without_checkpoint_points_at_the_shipped_one():
    with pytest.raises(UserError, match=r"checkpoint=assets/checkpoints/Go2\.pth"):
        compose(["task=Go2", "test=True"])


def test_a_gpu_index_beyond_the_machine_is_refused(monkeypatch):
    import torch

    from mytasks.cli import config_dirs
    from mytasks.utils.run_config import load_config

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    message = "sim_device=cuda:2, but this machine has 2 GPU(s): cuda:0 to cuda:1"
    with pytest.raises(UserError, match=re.escape(message)):
        load_config(["sim_device=cuda:2"], config_dirs)
    cfg = load_config(["sim_device=cuda", "rl_device=cuda:1"], config_dirs)
    assert (cfg.sim_device, cfg.rl_device) == ("cuda:0", "cuda:1")


def test_max_iterations_sets_the_epochs_also_where_the_train_yaml_writes_its_own(capsys):
    """Upstream's AllegroKukaPPO writes ``max_epochs: 100000`` rather than reading max_iterations;
    max_iterations=3 on the command line still trains 3 epochs, and one line says so."""
    from mytasks.cli import config_dirs
    from mytasks.utils.run_config import load_config

    cfg = load_config(["task=Cartpole", "train.params.config.max_epochs=100000", "max_iterations=3"], config_dirs)
    assert cfg.train.params.config.max_epochs == 3
    assert "the train config writes max_epochs: 100000; max_iterations=3 sets it" in capsys.readouterr().out
    cfg = load_config(["task=Cartpole", "max_iterations=3"], config_dirs)  # read through the YAML: no line
    assert cfg.train.params.config.max_epochs == 3 and "sets it" not in capsys.readouterr().out
    cfg = load_config(["task=Cartpole", "train.params.config.max_epochs=7"], config_dirs)  # not asked: kept
    assert cfg.train.params.config.max_epochs == 7
