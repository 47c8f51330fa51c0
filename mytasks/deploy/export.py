"""Export a played checkpoint: ``policy.onnx``, ``policy.pt`` (TorchScript) and ``deploy.yaml``.

Both files hold one function, observation (batch, num_obs) float32 -> action (batch,
num_actions): the task's observation clip, rl-games' input normaliser (its running mean and
variance, the clip to ±5), the actor's mean (the deterministic action), the player's clip to
[-1, 1] and rescaling to the action space when the train config has ``clip_actions`` (Go2's
does not), and the task's clip to ±``clipActions``.

``deploy.yaml`` is everything a deploy loop needs besides the weights; a task provides its
part with ``deploy_info()`` (``tasks/go2.py``), and a task without it gets the minimal
manifest, which says so. The export directory is written beside itself and swapped in
whole, so an existing export is replaced atomically. Only an earlier export is replaced: each
carries the marker file ``.mytasks-export``, and any other existing target (a folder of yours,
a file, the run itself) is refused untouched. A symbolic link is followed to its folder and
left in place; an export killed midway leaves a ``.<name>.partial-<pid>-*`` folder that the
next export to the same place removes.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET

import torch
import yaml

import mytasks
from mytasks.utils.errors import UserError


class Policy(torch.nn.Module):
    """What the player does with an observation, as one module."""

    def __init__(self, model, clip_obs: float, clip_actions: float, player_clip: tuple | None):
        """``player_clip``: the action space's (low, high) when the player clips and rescales
        (rl-games' ``clip_actions``), else None; ``clip_actions``: the task's clip."""
        super().__init__()
        self.normalize = bool(getattr(model, "normalize_input", False))
        if self.normalize:  # rl-games' RunningMeanStd (a scripted module, which tracing refuses): its numbers
            rms = model.running_mean_std
            self.center = not bool(getattr(rms, "norm_only", False))
            self.register_buffer("mean", rms.running_mean.detach().float().clone())
            self.register_buffer("std", torch.sqrt(rms.running_var.detach().float() + float(rms.epsilon)))
        self.net = model.a2c_network
        self.clip_obs = float(clip_obs)
        self.clip_actions = float(clip_actions)
        self.rescale = player_clip is not None
        if self.rescale:
            self.register_buffer("low", torch.as_tensor(player_clip[0], dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(player_clip[1], dtype=torch.float32))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if math.isfinite(self.clip_obs):
            obs = torch.clamp(obs, -self.clip_obs, self.clip_obs)
        if self.normalize:
            obs = torch.clamp((obs - self.mean) / self.std, -5.0, 5.0) if self.center else obs / self.std
        action = self.net({"obs": obs})[0]
        if self.rescale:  # rl-games' rescale_actions of the action clipped to [-1, 1]
            action = self.low + (torch.clamp(action, -1.0, 1.0) + 1.0) * 0.5 * (self.high - self.low)
        if math.isfinite(self.clip_actions):
            action = torch.clamp(action, -self.clip_actions, self.clip_actions)
        return action


class ActorPolicy(torch.nn.Module):
    """A learner's deterministic actor (observation -> mean action, its normaliser included)
    between the task's observation clip and its action clip: what the task does with it."""

    def __init__(self, actor: torch.nn.Module, clip_obs: float, clip_actions: float):
        super().__init__()
        self.actor, self.clip_obs, self.clip_actions = actor, float(clip_obs), float(clip_actions)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if math.isfinite(self.clip_obs):
            obs = torch.clamp(obs, -self.clip_obs, self.clip_obs)
        action = self.actor(obs)
        if math.isfinite(self.clip_actions):
            action = torch.clamp(action, -self.clip_actions, self.clip_actions)
        return action


def check_packages() -> None:
    for module, package in (("onnx", "onnx"), ("onnxruntime", "onnxruntime")):
        try:
            __import__(module)
        except ImportError:
            raise UserError(f"export=True needs the {package} package: pip install {package}") from None


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


MARKER = ".mytasks-export"
_MARKER_TEXT = "A policy export written by mytasks (export=True); a later export to this folder replaces it whole.\n"


def export_dir(checkpoint: str, run_dir: str | None, runs_dir: str, task_name: str, chosen: str = "") -> str:
    """``export_dir=`` if given, else ``<run>/exported``, else ``runs/exported/<task>_<stem>``;
    checked (``check_target``) before anything is built."""
    if chosen:
        out = os.path.expanduser(chosen)
    elif run_dir is not None:
        out = os.path.join(run_dir, "exported")
    else:
        stem = os.path.splitext(os.path.basename(checkpoint))[0]
        out = os.path.join(runs_dir, "exported", f"{task_name}_{stem}")
    check_target(out)
    return out


def is_export(path: str) -> bool:
    """Whether ``path`` is a folder that an earlier export wrote (it holds the marker file)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, MARKER))


def check_target(out_dir: str) -> None:
    """An export may go to a new path, an empty folder or an earlier export; anything else
    that exists there is refused in one line and left as it is."""
    real = os.path.realpath(out_dir)
    if not os.path.lexists(real):
        parent = os.path.dirname(real)
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        if parent and not os.path.isdir(parent):
            raise UserError(f"export_dir={out_dir}: {parent} is a file, not a folder; name a new folder")
        return
    if os.path.isdir(real) and (is_export(real) or not os.listdir(real)):
        return
    what = "a file" if not os.path.isdir(real) else "a folder that is not an earlier export of mytasks"
    raise UserError(f"export_dir={out_dir} is {what}, and export replaces only its own exports (they hold "
                    f"{MARKER}); name a new folder, such as export_dir={os.path.join(out_dir, 'policy_export')}")


def manifest(task, checkpoint: str) -> tuple[dict, bool]:
    """The deploy manifest of ``task``; the flag says whether the task gave its deploy part."""
    info = task.deploy_info() if hasattr(task, "deploy_info") else None
    sim_dt = float(task.sim_params.dt)
    m = {
        "mytasks_version": mytasks.__version__,
        "task": type(task).__name__,
        "checkpoint": os.path.abspath(checkpoint),
        "checkpoint_sha256": _sha256(checkpoint),
        "files": {"onnx": "policy.onnx", "torchscript": "policy.pt"},
        "policy": {
            "input": "obs", "output": "actions", "num_obs": int(task.num_obs), "num_actions": int(task.num_actions),
            "folded_in": ["observation clip", "input normaliser (running mean/std, clip ±5)", "mean action",
                          "action clip of the train config (clip_actions) and of the task (clipActions)"],
        },
        "control": {"dt": sim_dt * task.control_freq_inv, "sim_dt": sim_dt, "decimation": int(task.control_freq_inv)},
        "clip": {"observations": _number(task.clip_obs), "actions": _number(task.clip_actions)},
    }  # fmt: skip
    if info is None:
        m["note"] = (f"{type(task).__name__} gives no deploy information (deploy_info()): no joints, gains or "
                     "observation layout here")  # fmt: skip
    else:
        m.update(info)
    return m, info is not None


def _number(v: float):
    return float(v) if math.isfinite(v) else "inf"


def export(player, task, checkpoint: str, out_dir: str, samples: torch.Tensor | None = None) -> dict:
    """Writes the export of ``player`` for ``task`` to ``out_dir``; returns the manifest.
    ``player``: rl-games' player, or another learner's actor module (``learners.Player.actor``)."""
    check_packages()
    if isinstance(player, torch.nn.Module):
        policy = ActorPolicy(player, task.clip_obs, task.clip_actions).cpu().eval()
    else:
        space = (player.actions_low.cpu(), player.actions_high.cpu()) if player.clip_actions else None
        policy = Policy(player.model, task.clip_obs, task.clip_actions, space).cpu().eval()
    example = samples[:4].cpu() if samples is not None else torch.zeros(4, task.num_obs)
    shown, out_dir = out_dir, os.path.realpath(out_dir)  # a symbolic link stays, pointing at the new export
    check_target(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    _remove_partial(out_dir)
    m, complete = manifest(task, checkpoint)
    if isinstance(policy, ActorPolicy):
        m["policy"]["folded_in"] = ["observation clip", "the learner's input normaliser, if any", "mean action",
                                    "action clip of the task (clipActions)"]  # fmt: skip
    tmp = tempfile.mkdtemp(prefix=f"{_partial_prefix(out_dir)}{os.getpid()}-", dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # a directory as any other, not mkdtemp's private one
    try:
        with open(os.path.join(tmp, MARKER), "w") as f:
            f.write(_MARKER_TEXT)
        with torch.no_grad():
            torch.onnx.export(policy, (example,), os.path.join(tmp, "policy.onnx"), input_names=["obs"],
                              output_names=["actions"], dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
                              opset_version=17, dynamo=False)  # fmt: skip
            traced = torch.jit.trace(policy, example)
        import onnx

        onnx.checker.check_model(os.path.join(tmp, "policy.onnx"), full_check=True)
        traced.save(os.path.join(tmp, "policy.pt"))
        urdf = m.get("robot", {}).get("urdf")
        if urdf:  # the export carries its robot, meshes included: sim2sim and deploy code need nothing else
            copy_robot(urdf, os.path.join(tmp, "robot"))
            m["robot"]["urdf_source"] = os.path.abspath(urdf)
            m["robot"]["urdf"] = f"robot/{os.path.basename(urdf)}"
        with open(os.path.join(tmp, "deploy.yaml"), "w") as f:
            yaml.safe_dump(m, f, sort_keys=False, allow_unicode=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        _swap_in(tmp, out_dir)
    except BaseException:
        if os.path.lexists(tmp) and is_export(tmp) and os.path.realpath(tmp) != out_dir:
            shutil.rmtree(tmp, ignore_errors=True)  # the new export, not swapped in
        raise
    print(f"exported to {shown}: policy.onnx, policy.pt (TorchScript), deploy.yaml", flush=True)
    if not complete:
        print(f"mytasks: {m['note']}; the manifest is the minimal one", flush=True)
    return m


def copy_robot(urdf: str, dest: str) -> None:
    """The URDF into ``dest`` with every mesh it names, found as MuJoCo and Newton find them
    (relative to the URDF's folder; ``package://<pkg>/`` from the folder above it or the URDF's
    own), copied under ``dest/meshes/`` and named there by a relative path. The URDF's text is
    kept as written but for those file names (a URDF without meshes is copied as it is)."""
    os.makedirs(dest)
    here = os.path.dirname(os.path.abspath(urdf))
    names = [m.get("filename") for m in ET.parse(urdf).getroot().iter("mesh") if m.get("filename")]
    if not names:
        shutil.copy2(urdf, os.path.join(dest, os.path.basename(urdf)))
        return
    os.makedirs(os.path.join(dest, "meshes"))
    copied: dict[str, str] = {}  # source file -> its name in the export
    renamed: dict[str, str] = {}  # the URDF's name -> its name in the export
    for name in dict.fromkeys(names):
        source = _mesh_source(name, here)
        if source not in copied:
            stem, ext = os.path.splitext(os.path.basename(source))
            target, k = f"meshes/{stem}{ext}", 1
            while target in copied.values():
                k += 1
                target = f"meshes/{stem}_{k}{ext}"
            shutil.copy2(source, os.path.join(dest, target))
            copied[source] = target
        renamed[name] = copied[source]
    with open(urdf, encoding="utf-8") as f:
        text = f.read()
    def rename(m: re.Match) -> str:
        return f"{m.group(1)}{m.group(2)}{renamed.get(m.group(3), m.group(3))}{m.group(2)}"

    text = re.sub(r"""(<mesh\b[^>]*?\bfilename\s*=\s*)(["'])(.*?)\2""", rename, text)
    with open(os.path.join(dest, os.path.basename(urdf)), "w", encoding="utf-8") as f:
        f.write(text)


def _mesh_source(name: str, here: str) -> str:
    if name.startswith("file://"):
        name = name[len("file://"):]
    candidates = []
    if name.startswith("package://"):
        rest = name[len("package://"):].split("/", 1)[-1]
        candidates = [os.path.join(os.path.dirname(here), rest), os.path.join(here, rest)]
    else:
        candidates = [os.path.join(here, name)]
    for path in candidates:
        if os.path.isfile(path):
            return os.path.realpath(path)
    raise UserError(f"the robot's URDF names the mesh {name}, which is not at {candidates[0]}; export copies the "
                    "meshes beside the URDF, so they must be where the URDF says")


def _partial_prefix(out_dir: str) -> str:
    return f".{os.path.basename(out_dir)}.partial-"


def _remove_partial(out_dir: str) -> None:
    """Folders that an export to ``out_dir`` left when it was killed midway (their process is gone)."""
    parent, prefix = os.path.dirname(out_dir), _partial_prefix(out_dir)
    for name in os.listdir(parent):
        m = re.fullmatch(re.escape(prefix) + r"(\d+)-\w+(\.old)?", name)
        path = os.path.join(parent, name)
        if not m or os.path.islink(path) or not is_export(path) or _alive(int(m.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not exporting there yet
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _swap_in(tmp: str, out_dir: str) -> None:
    """Puts the finished directory ``tmp`` at ``out_dir``. An earlier export there (or an empty
    folder) is exchanged with it in one step (Linux's renameat2 RENAME_EXCHANGE), elsewhere
    renamed aside first, and only then removed; anything else there is left untouched."""
    if not os.path.lexists(out_dir):
        os.rename(tmp, out_dir)
        return
    check_target(out_dir)  # again, just before: a folder that appeared since is never replaced
    empty = not is_export(out_dir)
    if not _exchange(tmp, out_dir):
        os.rename(out_dir, f"{tmp}.old")
        try:
            os.rename(tmp, out_dir)
        except BaseException:
            os.rename(f"{tmp}.old", out_dir)  # the earlier export back where it was
            raise
        tmp = f"{tmp}.old"
    if empty:
        os.rmdir(tmp)  # fails, and so keeps it, should a file have appeared in it
    elif is_export(tmp):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old export


def _exchange(a: str, b: str) -> bool:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        return libc.renameat2(at_fdcwd, a.encode(), at_fdcwd, b.encode(), rename_exchange) == 0
    except (OSError, AttributeError):
        return False
