"""The command line's flags: ``--help``, ``--tasks``, ``--new-task``, and Hydra's own ``--cfg``,
``--resolve``, ``-m``/``--multirun`` and ``--hydra-help``, as IsaacGymEnvs users know them.

Light on purpose (omegaconf and hydra): none of them builds a task, except each run of a sweep.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable

from mytasks.utils.errors import UserError
from mytasks.utils.invocation import program
from mytasks.utils.schema import TOP_LEVEL, sources_in

USAGE = """usage: {prog} [task=NAME] [key=value ...] [flags]

  {prog} task=Cartpole                       train (runs/<name>_<time>/ under this folder)
  {prog} task=Cartpole test=True checkpoint=runs/<run>   play a trained policy (its best checkpoint)
  {prog} task=Cartpole checkpoint=latest      resume the newest Cartpole run (its last checkpoint)
  {prog} task=Go2 headless=True                train the Go2 to walk (one GPU, ~1 min)
  {prog} task=Go2 test=True checkpoint=assets/checkpoints/Go2.pth   play the shipped Go2 policy
  {prog} task=Cartpole learner=sb3            train with Stable-Baselines3 (or rsl_rl, skrl)
  {prog} -m task=Cartpole seed=1,2,3          a sweep: one run after the other, a run directory each

any config value: task.env.<key>=..., train.params.config.<key>=...; a new key: +task.env.<key>=...
tasks: {tasks}

flags:
  --tasks                 list the tasks and where each comes from (mytasks, a package, task_path=, ige_root=)
  --new-task NAME [DIR]   create a task package from the template (in DIR, default ./<name>)
  --cfg job               print the composed config and exit (--cfg all: the same; --resolve: values resolved)
  -m, --multirun          sweep over comma-separated values (seed=1,2,3 or range(1,4)), a run each
  --hydra-help            the Hydra flags this command takes
  --traceback             the full trace of an error

keys:
{keys}"""

HYDRA_HELP = """Hydra flags that {prog} takes (it composes cfg/ with Hydra 1.3):
  --cfg job | all         print the composed config (tasks and train files included) and exit
  --resolve               with --cfg: interpolations resolved
  -m, --multirun          a sweep over the comma-separated values of any key (seed=1,2,3, task=Cartpole,Go2,
                          range(1,4), choice(a,b)): each combination a run of its own, one after the other
  key=value, +key=value, ~key   set, add or delete a key, as Hydra's overrides do

Not taken: --config-path, --config-dir, --config-name, --info, --run, --shell-completion and hydra.* keys:
mytasks composes its own config folder; task_path=<folder> adds your tasks' YAMLs (README, "Write your own
task"), and ige_root=<checkout> an IsaacGymEnvs checkout's."""

_HYDRA_NOT_TAKEN = ("--config-path", "--config-dir", "--config-name", "--info", "--run", "--shell-completion",
                    "-cp", "-cd", "-cn", "-i", "-sc")  # fmt: skip


def _task_names(argv: list[str]) -> str:
    from mytasks.tasks.registry import catalog

    try:
        return ", ".join(sorted(catalog(**sources_in(argv)).specs))
    except UserError as e:
        return f"({e})"


def usage(argv: list[str]) -> str:
    keys = "\n".join(f"  {k:<20} {v.doc}" for k, v in TOP_LEVEL.items() if k != "task_name")
    return USAGE.format(prog=program(), tasks=_task_names(argv), keys=keys)


def run_flags(argv: list[str], run: Callable[[list[str]], None]) -> int:
    """Handles a command line with flags; ``run`` runs a plain one (the CLI's)."""
    flags = [a for a in argv if a.startswith("-")]
    if "-h" in flags or "--help" in flags:
        print(usage(argv))
        return 0
    if "--hydra-help" in flags:
        print(HYDRA_HELP.format(prog=program()))
        return 0
    if "--tasks" in flags:
        list_tasks([a for a in argv if not a.startswith("-")])
        return 0
    if "--new-task" in flags:
        from mytasks.templates import new_task

        at = argv.index("--new-task")
        words = [a for a in argv[at + 1 : at + 3] if not a.startswith("-") and "=" not in a]
        if not words:
            raise UserError("--new-task needs a name: --new-task Pendulum [folder]")
        new_task(*words)
        return 0
    overrides, cfg_mode, resolve, multirun = [], "", False, False
    it = iter(argv)
    for a in it:
        if a == "--cfg":
            cfg_mode = next(it, "")
            if cfg_mode not in ("job", "all"):
                raise UserError(f"--cfg takes job or all (mytasks keeps no Hydra run config), got '{cfg_mode}'")
        elif a.startswith("--cfg="):
            raise UserError("--cfg takes its value after a space: --cfg job")
        elif a == "--resolve":
            resolve = True
        elif a in ("-m", "--multirun"):
            multirun = True
        elif a.split("=")[0] in _HYDRA_NOT_TAKEN:
            raise UserError(f"{a}: {program()} does not take this Hydra flag; --hydra-help lists the ones it takes")
        elif a.startswith("-") and not a.startswith("~"):
            raise UserError(f"unknown flag {a}; --help lists the flags")
        else:
            overrides.append(a)
    if cfg_mode:
        print_config(overrides, resolve)
        return 0
    if resolve:
        raise UserError("--resolve goes with --cfg job")
    if multirun:
        return sweep(overrides)
    run(overrides)
    return 0


def list_tasks(argv: list[str]) -> None:
    """``--tasks``: every task this command line can run, with where its class and YAMLs are."""
    from mytasks.tasks.registry import catalog

    specs = catalog(**sources_in(argv)).specs
    width = max((len(n) for n in specs), default=4)
    for name in sorted(specs):
        spec = specs[name]
        target = spec.target if isinstance(spec.target, str) else f"{spec.target.__module__}:{spec.target.__name__}"
        where = spec.config_dir or "no cfg/ folder found (its task YAML is missing)"
        print(f"{name:<{width}}  {spec.origin:<24}  {target}  ({where})")


def print_config(overrides: list[str], resolve: bool) -> None:
    """``--cfg job``: the config a run of these overrides gets, as YAML."""
    from omegaconf import OmegaConf

    from mytasks.cli import config_dirs
    from mytasks.utils.run_config import load_config

    cfg = load_config(overrides, config_dirs)
    print(OmegaConf.to_yaml(cfg, resolve=resolve), end="")


def sweep(overrides: list[str]) -> int:
    """``-m``: each combination of the swept values a run of its own (a new process, a run
    directory each), one after the other; the exit code is the first failure's, else 0."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as e:
        raise UserError(f"bad override: {str(e).strip().splitlines()[0]}") from None
    axes = []
    for o in parsed:
        key = o.get_key_element()
        values = [f"{key}={v}" for v in o.sweep_string_iterator()] if o.is_sweep_override() else [o.input_line]
        axes.append(values)
    jobs = list(itertools.product(*axes))
    if len(jobs) == 1:
        print(f"mytasks: -m with no swept value (comma-separated, as in seed=1,2,3): one run of {' '.join(overrides)}")
    env = dict(os.environ, MYTASKS_PROGRAM=program())
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH", "")) if p)
    failed = 0
    for i, job in enumerate(jobs, 1):
        print(f"mytasks: sweep run {i}/{len(jobs)}: {' '.join(job)}", flush=True)
        code = subprocess.call([sys.executable, "-m", "mytasks", *job], env=env)
        if code != 0:
            print(f"mytasks: sweep run {i}/{len(jobs)} ended with exit code {code}", file=sys.stderr, flush=True)
            failed = failed or code
    return failed
