"""The VecTask contract, checked on every registered task (few envs, random actions) with
``mytasks.testing.check_task``, the check a task package runs in its own tests."""

from __future__ import annotations

import os

import pytest

from mytasks.tasks import isaacgym_task_map, register_task
from mytasks.tasks.cartpole import Cartpole
from mytasks.testing import check_task
from mytasks.utils.paths import CONFIG_DIR


@pytest.mark.parametrize("name", sorted(isaacgym_task_map))
def test_task_contract(name):
    check_task(name)


class EndlessCartpole(Cartpole):
    """Cartpole whose episodes never end."""

    def post_physics_step(self):
        super().post_physics_step()
        self.reset_buf[:] = 0


def test_a_broken_contract_fails_with_the_rule_it_breaks(tmp_path):
    for group, suffix in (("task", ""), ("train", "PPO")):
        text = open(os.path.join(CONFIG_DIR, group, f"Cartpole{suffix}.yaml")).read()
        (tmp_path / group).mkdir()
        text = text.replace("name: Cartpole", "name: EndlessCartpole")
        (tmp_path / group / f"EndlessCartpole{suffix}.yaml").write_text(text)
    register_task("EndlessCartpole", EndlessCartpole, config_dir=str(tmp_path))
    try:
        with pytest.raises(AssertionError, match="step 9: an episode ran past maxEpisodeLength"):
            check_task("EndlessCartpole")
    finally:
        del isaacgym_task_map["EndlessCartpole"]
