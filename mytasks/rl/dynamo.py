"""torch._dynamo, imported only when something compiles.

Importing ``torch._dynamo`` takes 1.3 s on a 2-core CPU, and nothing in a mytasks run compiles
unless the train config asks (``torch_compile=True``). Two things import it anyway:

- torch marks a few optimizer functions (``Optimizer.add_param_group``, ``zero_grad``,
  ``state_dict``, ``load_state_dict`` and the functional ``adam`` and friends) with
  ``torch._disable_dynamo``, which imports torch._dynamo at their first call, only to wrap
  them so that a compiled region does not trace into them; and each optimizer's ``step`` goes
  through ``_use_grad_for_differentiable``, which imports it at every call to break a compiled
  graph around the step. ``defer()`` gives each such wrapper what it caches, and each such
  ``step`` a wrapper of its own: while torch._dynamo is not imported (no region can be
  compiling then) the function runs as it is (``step`` with grad mode set as torch sets it),
  and from the moment it is imported, torch's own wrapper runs.
- rl-games 1.6.5 defines a test network under ``@torch.compile`` when its env registry is
  first imported (``compile_deferred``), and its ``torch_runner`` imports torch._dynamo at its
  top (mytasks does not import that module: ``runner.Setup`` does its work).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys

import torch

# torch's functions wrapped by _disable_dynamo that an optimizer calls
_WRAPPED = {
    "torch.optim.optimizer": ("Optimizer.add_param_group", "Optimizer.zero_grad", "Optimizer.state_dict",
                              "Optimizer.load_state_dict"),  # fmt: skip
    "torch.optim.adam": ("adam",),
    "torch.optim.adamax": ("adamax",),
    "torch.optim.nadam": ("nadam",),
    "torch.optim.radam": ("radam",),
    "torch.optim.rmsprop": ("rmsprop",),
    "torch.optim.rprop": ("rprop",),
    "torch.optim.adadelta": ("adadelta",),
    "torch.optim.asgd": ("asgd",),
}
_CACHE = "__dynamo_disable"  # the attribute torch._compile._disable_dynamo caches its wrapper in


def _until_dynamo(fn):
    """``fn`` as called while torch._dynamo is not imported; torch's disabled ``fn`` once it is."""
    disabled = None

    @functools.wraps(fn)
    def call(*args, **kwargs):
        nonlocal disabled
        if "torch._dynamo" not in sys.modules:
            return fn(*args, **kwargs)
        if disabled is None:
            disabled = sys.modules["torch._dynamo"].disable(fn, True, wrapping=False)
        return disabled(*args, **kwargs)

    return call


def _step_until_dynamo(use_grad):
    """An optimizer's ``step`` (torch's ``_use_grad`` wrapper of it) that imports nothing."""
    step = use_grad.__wrapped__

    @functools.wraps(step)
    def call(self, *args, **kwargs):
        if "torch._dynamo" in sys.modules:
            return use_grad(self, *args, **kwargs)
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return step(self, *args, **kwargs)

    return call


def defer() -> None:
    """Lets torch's optimizers run without importing torch._dynamo (see the module's notice).
    A function whose wrapper is not torch's ``_disable_dynamo`` one, and an optimizer class that
    has been used already (its ``step`` wrapped for hooks), are left alone."""
    for cls in vars(torch.optim).values():
        use_grad = vars(cls).get("step") if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) else None
        if getattr(use_grad, "__code__", None) is not None and use_grad.__code__.co_name == "_use_grad":
            cls.step = _step_until_dynamo(use_grad)
    for module_name, names in _WRAPPED.items():
        module = importlib.import_module(module_name)
        for name in names:
            wrapper = functools.reduce(getattr, name.split("."), module)
            fn = getattr(wrapper, "__wrapped__", None)
            if fn is None or wrapper.__code__.co_name != "inner" or getattr(fn, _CACHE, None) is not None:
                continue
            setattr(fn, _CACHE, _until_dynamo(fn))


@contextlib.contextmanager
def compile_deferred():
    """Within the block ``torch.compile`` hands back what it is given; outside it, it is
    torch's own (``torch_compile=True`` in a train config still compiles)."""
    compile_ = torch.compile

    def as_given(model=None, **_options):
        return model if model is not None else (lambda m: m)

    torch.compile = as_given
    try:
        yield
    finally:
        torch.compile = compile_
