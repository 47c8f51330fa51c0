"""``multi_gpu=True``: one training process per GPU under torchrun, for rl-games' PPO.

    torchrun --standalone --nproc_per_node=2 train.py task=Go2 headless=True multi_gpu=True

torchrun starts the processes and gives each ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``.
Then:

- each process simulates ``num_envs`` envs on ``cuda:<LOCAL_RANK>`` and joins one process
  group through NCCL; with ``sim_device=cpu rl_device=cpu`` the group is gloo's, on the CPU
  (the backend follows the device);
- seeds differ by rank (``seed + rank``);
- the gradients are averaged over the ranks (rl-games' all-reduce, once per minibatch) and so
  is the KL divergence the learning-rate schedule reads, so every rank adapts to the same rate
  (in mytasks' CUDA-graph update, ``agent.py``, the all-reduces are part of the graph);
- the observation and value normalisers (rl-games' ``RunningMeanStd``) update from the
  statistics of every rank's batch, so that they stay identical
  (``DistributedRunningMeanStd``);
- rank 0 alone writes the run directory (config, checkpoints, TensorBoard, videos) and the
  console; every rank ends each epoch by agreeing on whether to stop (Ctrl-C, the viewer
  closing, blow-ups) and by checking that it holds the same weights as rank 0.

Play is one process, as without ``multi_gpu``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from omegaconf import DictConfig
from rl_games.algos_torch.running_mean_std import RunningMeanStd

from mytasks.utils.errors import UserError

TORCHRUN = "torchrun --standalone --nproc_per_node=<GPUs> train.py ... multi_gpu=True"


@dataclass(frozen=True)
class Ranks:
    rank: int
    local_rank: int
    world_size: int
    backend: str

    @property
    def main(self) -> bool:
        return self.rank == 0


def current() -> Ranks | None:
    """The process group this process trains in, or None for one process."""
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return Ranks(dist.get_rank(), int(os.environ.get("LOCAL_RANK", 0)), dist.get_world_size(), dist.get_backend())


def start(cfg: DictConfig, argv: list[str]) -> Ranks | None:
    """With ``multi_gpu``: checks the torchrun environment and the devices (one line and exit 2
    for what does not fit), puts this rank on its device and joins the process group."""
    if not cfg.multi_gpu:
        return None
    if cfg.test:
        raise UserError("multi_gpu=True trains; play is one process: drop multi_gpu=True and torchrun")
    if str(cfg.learner) != "rl_games":
        raise UserError(f"multi_gpu=True trains with learner=rl_games; learner={cfg.learner} runs in one process")
    env = os.environ
    if not all(k in env for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE")):
        raise UserError(f"multi_gpu=True runs one process per GPU, started by torchrun: {TORCHRUN}")
    rank, local, world = int(env["RANK"]), int(env["LOCAL_RANK"]), int(env["WORLD_SIZE"])
    given = {a.partition("=")[0].lstrip("+~") for a in argv}
    if str(cfg.sim_device) == "cpu" or str(cfg.rl_device) == "cpu":
        if str(cfg.sim_device) != str(cfg.rl_device):
            raise UserError(f"multi_gpu=True on the CPU needs sim_device=cpu rl_device=cpu pipeline=cpu (given "
                            f"sim_device={cfg.sim_device} rl_device={cfg.rl_device})")  # fmt: skip
        backend = "gloo"
    else:
        count = torch.cuda.device_count()
        if local >= count:
            per_node = env.get("LOCAL_WORLD_SIZE", str(local + 1))
            raise UserError(f"torchrun started {per_node} processes on this machine, but it has {count} GPU(s): "
                            f"pass --nproc_per_node={count} or fewer")  # fmt: skip
        mine = f"cuda:{local}"
        for key in ("sim_device", "rl_device"):
            if key in given and str(cfg[key]) not in (mine, "cuda"):
                raise UserError(f"{key}={cfg[key]} contradicts rank {rank}: under torchrun each process runs on "
                                f"cuda:<LOCAL_RANK> ({mine} here); drop {key}=")  # fmt: skip
            cfg[key] = mine
        torch.cuda.set_device(local)
        backend = "nccl"
    dist.init_process_group(backend, rank=rank, world_size=world)
    if rank != 0:
        cfg.headless = True  # one viewer, one video, one wandb run: rank 0's
        cfg.capture_video = False
        cfg.wandb_activate = False
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # also what is written to sys.__stdout__ (signal notices)
        os.close(devnull)
    return Ranks(rank, local, world, backend)


def built_in_turn(build: Callable[[], object]):
    """The task ``build()`` makes, built by rank 0 first: its build and its first step compile
    the kernels into the kernel cache, then the other ranks build and step from that cache
    instead of each compiling the same kernels (``torchrun`` starts every rank at once).
    One process: just ``build()``."""
    ranks = current()
    if ranks is None or ranks.world_size == 1:
        return build()
    if not ranks.main:
        dist.barrier()
    task = build()
    if ranks.main:
        dist.barrier()
    step = task.step

    def first_step(actions):
        del task.step  # later steps are the task's own
        if not ranks.main:
            dist.barrier()
        out = step(actions)
        if ranks.main:
            dist.barrier()
        return out

    task.step = first_step
    return task


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def agree(*flags: float) -> list[float]:
    """The largest value of each flag over the ranks (so that any rank's stop stops them all)."""
    t = torch.tensor(flags, dtype=torch.float64, device=_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def from_rank(rank: int, blown):
    """Rank ``rank``'s count of blown-up envs (``tasks/base/nonfinite.BlowUps``) on every rank,
    its quantity naming the rank, so that rank 0's line says whose envs it means."""
    shared = [blown]
    dist.broadcast_object_list(shared, src=rank)
    return dataclasses.replace(shared[0], quantity=f"{shared[0].quantity} on rank {rank}")


def weights_differ(*modules: torch.nn.Module) -> list[str]:
    """The parameters and buffers (by name) that differ from rank 0's on some rank; empty when
    every rank holds the same. One checksum per tensor is gathered."""
    named = [(n, t) for m in modules for n, t in (*m.named_parameters(), *m.named_buffers())]
    mine = torch.stack([t.detach().double().sum() for _, t in named]).to(_device())
    every = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(every, mine)
    return [named[i][0] for i in sorted({int(i) for v in every[1:] for i in (v != every[0]).nonzero().flatten()})]


def broadcast_from_main(*modules: torch.nn.Module) -> None:
    """Rank 0's parameters and buffers on every rank (the start of training)."""
    with torch.no_grad():
        for m in modules:
            for t in (*m.parameters(), *m.buffers()):
                dist.broadcast(t.data, 0)


def _device() -> torch.device:
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sync_normalisers(*modules: torch.nn.Module, holders: tuple = ()) -> int:
    """Replaces every rl-games ``RunningMeanStd`` in ``modules`` (TorchScript modules there) by a
    ``DistributedRunningMeanStd`` holding the same statistics, also where an attribute of one of
    ``holders`` refers to it (rl-games' agent keeps ``value_mean_std``); returns how many."""
    found = []
    for m in modules:
        for name, sub in m.named_modules():
            kind = sub.original_name if isinstance(sub, torch.jit.ScriptModule) else type(sub).__name__
            if kind == "RunningMeanStd":
                found.append((m, name, sub))
    replaced = {}
    for m, name, old in found:
        owner, _, attr = name.rpartition(".")
        new = DistributedRunningMeanStd(tuple(old.insize), old.epsilon, old.per_channel, old.norm_only)
        new.to(old.running_mean.device)
        new.load_state_dict(old.state_dict())
        new.train(old.training)
        setattr(m.get_submodule(owner) if owner else m, attr, new)
        replaced[id(old)] = new
    for holder in holders:
        for attr, value in list(vars(holder).items()):
            if id(value) in replaced:
                setattr(holder, attr, replaced[id(value)])
    return len(found)


class DistributedRunningMeanStd(RunningMeanStd):
    """rl-games' running mean and variance, updated from every rank's batch: the ranks' batch
    means and second moments are averaged (their batches are the same size) before rl-games'
    own update, so each rank holds the statistics of the whole batch."""

    def __init__(self, *args):
        with contextlib.redirect_stdout(io.StringIO()):  # rl-games prints its size
            super().__init__(*args)

    def forward(self, input, denorm: bool = False, mask=None):
        if not self.training or mask is not None:
            return super().forward(input, denorm, mask)
        mean = input.mean(self.axis)
        moments = torch.stack([mean, input.var(self.axis, unbiased=False) + mean * mean])
        dist.all_reduce(moments)
        moments /= dist.get_world_size()
        batch_mean, batch_var = moments[0], moments[1] - moments[0] * moments[0]
        self.running_mean, self.running_var, self.count = self._update_mean_var_count_from_moments(
            self.running_mean, self.running_var, self.count, batch_mean, batch_var,
            input.size(0) * dist.get_world_size())  # fmt: skip
        self.training = False  # the normalisation below, with the statistics just updated
        try:
            return super().forward(input, denorm, mask)
        finally:
            self.training = True
