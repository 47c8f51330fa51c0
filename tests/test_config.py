"""Hydra composition of cfg/ with IsaacGymEnvs' keys, resolvers and overrides."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from mytasks.rl.runner import train_params
from mytasks.utils.config import UserError, compose, register_resolvers


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
        ("seed=x", "seed must be a whole number"),
        ("max_iterations=many", "max_iterations must be a whole number"),
        ("physics_engine=bullet", "unknown physics_engine 'bullet'"),
        ("pipeline=tpu", "pipeline must be gpu or cpu"),
        ("nosuchkey=1", "Could not override 'nosuchkey'"),
        ("test=True", "test=True needs a checkpoint"),
    ],
)
def test_bad_input_is_one_clear_error(override, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        compose([override])


def test_resolvers():
    register_resolvers()
    register_resolvers()  # a second registration must not raise
    c = OmegaConf.create({"a": "", "b": "GPU", "x": "${resolve_default:512,${a}}", "y": "${eq:${b},gpu}",
                          "z": "${contains:cuda,cuda:0}", "w": "${if:${y},on,off}"})  # fmt: skip
    assert (c.x, c.y, c.z, c.w) == (512, True, True, "on")


def test_minibatch_is_adjusted_to_divide_the_batch(capsys):
    cfg = compose(["num_envs=100"])
    params = train_params(OmegaConf.to_container(cfg.train, resolve=True), "cpu")
    mb = params["config"]["minibatch_size"]
    assert (16 * 100) % mb == 0 and mb == 1600
    assert "minibatch_size 8192 does not divide" in capsys.readouterr().out
    assert params["config"]["device_name"] == "cpu" and params["torch_threads"] >= 1


def test_play_without_checkpoint_points_at_the_shipped_one():
    with pytest.raises(UserError, match=r"checkpoint=assets/checkpoints/Go2\.pth"):
        compose(["task=Go2", "test=True"])
