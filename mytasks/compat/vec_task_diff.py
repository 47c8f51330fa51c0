"""What a fork changed in IsaacGymEnvs' ``tasks/base/vec_task.py``, said in one line.

mytasks runs a checkout's tasks on its own ``VecTask`` (the isaacgym API on Newton), never on
the checkout's: Isaac Gym's ``VecTask`` drives PhysX's simulation, viewer and randomisation
directly. A fork's changes to it are therefore not kept; ``vec_task_changes`` names them by
comparing each function's syntax tree with IsaacGymEnvs 1.5.1's (hashes below, one per function).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os

# _digest() of each function of IsaacGymEnvs 1.5.1's tasks/base/vec_task.py (first 16 hex digits).
UPSTREAM_1_5_1 = {
    "_create_sim_once": "c4480aaff9929583",
    "Env.__init__": "d8f5234dfda7f9dd",
    "Env.allocate_buffers": "5c14afa3b25f2569",
    "Env.step": "458dadc26be89d7c",
    "Env.reset": "36559c19e4000d2a",
    "Env.reset_idx": "84ab56fa46e3833d",
    "Env.observation_space": "028cd094188331d1",
    "Env.action_space": "59e9a691accc0b5b",
    "Env.num_envs": "858530ec831f24ad",
    "Env.num_acts": "4105b6e8c547e981",
    "Env.num_obs": "60b8baf8c71cc6db",
    "Env.set_train_info": "2d59b29416c34982",
    "Env.get_env_state": "ea109edb3f002969",
    "Env.set_env_state": "d483854fc6678c0b",
    "VecTask.__init__": "946ee4ecee582ff6",
    "VecTask.set_viewer": "d57540832378e0bc",
    "VecTask.allocate_buffers": "36327a9a30a56e48",
    "VecTask.create_sim": "aaae52c141d2a6cc",
    "VecTask.get_state": "62bf51b52fa43346",
    "VecTask.pre_physics_step": "f10405146507cbb5",
    "VecTask.post_physics_step": "4c38d58b4f68b22a",
    "VecTask.step": "321f48aaa8cef2ca",
    "VecTask.zero_actions": "1b8e56e8dacb4df7",
    "VecTask.reset_idx": "b10677d7656577dd",
    "VecTask.reset": "0c0896ce88cdd52d",
    "VecTask.reset_done": "a20cee868c38af27",
    "VecTask.render": "bc296093888d2a06",
    "VecTask.__parse_sim_params": "f1e6dd2880a5fad3",
    "VecTask.get_actor_params_info": "bc43f131a6117915",
    "VecTask.apply_randomizations": "aee8340f31c899aa",
}


def _canon(node):
    """A node's syntax as nested tuples, the same on every Python version (no empty fields, no
    ``type_params``, which 3.12 added)."""
    if isinstance(node, ast.AST):
        fields = ((f, _canon(getattr(node, f, None))) for f in node._fields if f not in ("type_params", "ctx"))
        return (type(node).__name__, tuple((f, v) for f, v in fields if v not in (None, ())))
    if isinstance(node, list):
        return tuple(_canon(x) for x in node)
    return node


def _digest(fn: ast.AST) -> str:
    return hashlib.sha256(repr(_canon(fn)).encode()).hexdigest()[:16]


def _functions(path: str) -> dict[str, str]:
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = {}
    for node in tree.body:
        members = [(node.name, node)] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.ClassDef):
            members = [(f"{node.name}.{m.name}", m) for m in node.body if isinstance(m, ast.FunctionDef)]
        for name, fn in members:
            out[name] = _digest(fn)
    return out


@functools.cache
def vec_task_changes(pkg: str) -> str | None:
    """One line naming the functions of the checkout's ``vec_task.py`` that differ from upstream
    1.5.1's (printed once per checkout), or None when it has none or no such file."""
    path = os.path.join(pkg, "tasks", "base", "vec_task.py")
    try:
        mine = _functions(path)
    except (OSError, SyntaxError, ValueError):
        return None
    changed = [n for n, h in mine.items() if n in UPSTREAM_1_5_1 and h != UPSTREAM_1_5_1[n]]
    new = [n for n in mine if n not in UPSTREAM_1_5_1]
    if not changed and not new:
        return None
    parts = ([f"changes {', '.join(changed)}"] if changed else []) + ([f"adds {', '.join(new)}"] if new else [])
    line = (
        f"mytasks: {path} {' and '.join(parts)} (against IsaacGymEnvs 1.5.1); its tasks run on mytasks' "
        "VecTask, the isaacgym API on Newton, so these changes are not kept: move them into the task class"
    )
    print(line, flush=True)
    return line
