"""``gymtorch`` on Newton: tensor handles are thin wrappers of torch tensors."""

from __future__ import annotations

import torch


class TensorHandle:
    """What ``acquire_*_tensor`` returns and the setters take (Isaac Gym's ``Tensor``)."""

    __slots__ = ("tensor",)

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor


def wrap_tensor(handle: TensorHandle, offsets=None, counts=None) -> torch.Tensor:
    """The torch tensor behind ``handle``; it shares memory with the sim and is refreshed in place."""
    if not isinstance(handle, TensorHandle):
        raise TypeError(f"wrap_tensor expects a handle from acquire_*_tensor, got {type(handle).__name__}")
    return handle.tensor


def unwrap_tensor(tensor: torch.Tensor) -> TensorHandle:
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"unwrap_tensor expects a torch.Tensor, got {type(tensor).__name__}")
    return TensorHandle(tensor)


def _tensor(handle) -> torch.Tensor:
    return handle.tensor if isinstance(handle, TensorHandle) else handle
