"""The rl-games agents an IsaacGymEnvs checkout brings (``isaacgymenvs/learning/``), run from the
checkout as upstream's train.py registers them (``mytasks/rl/checkout_agents.py``)."""

from __future__ import annotations

import glob
import os
import re

import pytest
from conftest import IGE, needs_ige, run_train


@needs_ige
@pytest.mark.slow
def test_humanoid_amp_trains_with_the_checkouts_amp_agent_and_plays(tmp_path):
    """HumanoidAMP's train YAML names upstream's own rl-games agent (isaacgymenvs/learning/): it is
    registered as upstream's train.py registers it and runs in mytasks' loop, its discriminator's
    scalars in TensorBoard; its run plays with upstream's AMP player. (Small batches, 32 envs.)"""
    small = ["num_envs=32", "train.params.config.amp_minibatch_size=256", "train.params.config.amp_batch_size=256",
             "train.params.config.amp_obs_demo_buffer_size=1024", "train.params.config.amp_replay_buffer_size=1024"]
    p = run_train("task=HumanoidAMP", f"ige_root={IGE}", "headless=True", "max_iterations=2", *small, cwd=tmp_path)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert re.search(r"^epoch 2/2 ", p.stdout, re.M), p.stdout[-2000:]
    (run,) = glob.glob(str(tmp_path / "runs" / "HumanoidAMP_*"))
    assert os.path.isfile(os.path.join(run, "nn", "last_HumanoidAMP_ep_2.pth"))
    events = glob.glob(os.path.join(run, "summaries", "**", "events.out.tfevents.*"), recursive=True)
    assert any(b"losses/disc_loss" in open(e, "rb").read() for e in events)
    p = run_train("test=True", f"checkpoint={run}", f"ige_root={IGE}", "num_envs=8", "play_episodes=8",
                  "headless=True", cwd=tmp_path)  # fmt: skip
    assert p.returncode == 0, p.stderr[-2000:]
    assert re.search(r"^played \d+ episodes", p.stdout, re.M), p.stdout[-1000:]
