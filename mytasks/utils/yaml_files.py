"""Reading YAML that came from elsewhere (a run directory, an export) without being made to
hang or run out of memory by it.

A YAML file can be small on disk and huge once read: anchors and aliases (``&a`` / ``*a``)
share a node, and a loader copies it at every alias, so nine levels of nine aliases make a
400-byte file expand to hundreds of millions of values (a "billion laughs"). ``check`` walks
the file's node graph, where aliases stay shared, counts the values it would expand to and
refuses a file past ``MAX_VALUES`` (or ``MAX_BYTES`` on disk) in one line, before any loader
expands it. Light on purpose: PyYAML only.
"""

from __future__ import annotations

import os

import yaml

MAX_BYTES = 8 << 20  # a run's config is a few kB, a deploy manifest less
MAX_VALUES = 200_000  # values once aliases are expanded; a run's config has about a thousand


class YamlRefused(ValueError):
    """The file is not YAML, or would expand past the limits; the message is one line."""


def check(path: str) -> None:
    """Raises ``YamlRefused`` unless ``path`` is YAML of a sane size once expanded."""
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise YamlRefused(f"{path} is {size / 2**20:.0f} MiB, more than the {MAX_BYTES >> 20} MiB a YAML file "
                          "of mytasks may have")  # fmt: skip
    try:
        with open(path, encoding="utf-8") as f:
            nodes = list(yaml.compose_all(f, Loader=yaml.SafeLoader))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise YamlRefused(f"{path} cannot be read ({type(e).__name__})") from None
    count = _Counter()
    try:
        for node in nodes:
            count.size(node)
    except YamlRefused as e:
        raise YamlRefused(f"{path} is refused: {e}") from None


class _Counter:
    def __init__(self):
        self.sizes: dict[int, int] = {}
        self.open: set[int] = set()

    def size(self, node: yaml.Node) -> int:
        """The values ``node`` expands to; an alias shares the count of the node it names."""
        key = id(node)
        if key in self.sizes:
            n = self.sizes[key]
        else:
            if key in self.open:
                raise YamlRefused("a YAML alias refers to a node that contains it (a recursive structure)")
            self.open.add(key)
            n = 1
            if isinstance(node, yaml.SequenceNode):
                n += sum(self.size(child) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                n += sum(self.size(k) + self.size(v) for k, v in node.value)
            self.open.discard(key)
            self.sizes[key] = n
        if n > MAX_VALUES:
            raise YamlRefused(f"it expands to more than {MAX_VALUES:,} values through its aliases (&/*), far more "
                              "than any config of mytasks holds")  # fmt: skip
        return n


def safe_load(path: str):
    """``yaml.safe_load`` of ``path`` after ``check``."""
    check(path)
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)
