"""Reading robot description files as Isaac Gym reads them, before Newton imports them: a
URDF's mesh files found in the folders above it, an MJCF with its includes expanded, without
what sits directly in its world, its root joints as Isaac Gym keeps them and its locked joints
given a span, its relative files resolved, and its hinge and slide joint names in file order.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET


def urdf_source(path: str) -> str:
    """The URDF's path, or, where a relative mesh or texture file is not beside it, its text
    with each such file looked for in the folders above, nearest first, and made absolute.
    Upstream's Kuka-Allegro URDFs, which Isaac Gym loads, name ``kuka_allegro_description/
    meshes/...`` from the folder holding theirs; Newton alone leaves those links without shapes."""
    tree = ET.parse(path)
    folder = os.path.dirname(os.path.abspath(path))
    files = [e for e in tree.iter() if e.tag in ("mesh", "texture") and e.get("filename")]
    relative = [e for e in files if "://" not in e.get("filename") and not os.path.isabs(e.get("filename"))]
    if all(os.path.exists(os.path.join(folder, e.get("filename"))) for e in relative):
        return path
    ancestors = [folder]
    while os.path.dirname(ancestors[-1]) != ancestors[-1]:
        ancestors.append(os.path.dirname(ancestors[-1]))
    for e in relative:
        name = e.get("filename")
        found = next((os.path.join(d, name) for d in ancestors if os.path.exists(os.path.join(d, name))), None)
        e.set("filename", found or os.path.join(folder, name))  # not found: Newton's own warning names it
    return ET.tostring(tree.getroot(), encoding="unicode")


# ---------------------------------------------------------------------- MJCF helpers
def mjcf_resolver(path: str):
    """A relative file in the MJCF: beside it (or its meshdir), else under the folders
    ``mytasks.sim.asset_paths_from`` names (where upstream's train.py runs)."""
    from mytasks.sim import asset_roots

    base = os.path.dirname(os.path.abspath(path))

    def resolve(base_dir, file):
        if os.path.isabs(file):
            return file
        here = os.path.join(base_dir or base, file)
        if not os.path.exists(here):
            for root in asset_roots():
                if os.path.exists(os.path.join(root, file)):
                    return os.path.normpath(os.path.join(root, file))
        return here

    return resolve


def _mjcf_tree(path: str) -> ET.ElementTree:
    """The MJCF with its ``<include file=...>`` elements replaced by the included files' contents,
    as MuJoCo's compiler reads it (paths from the main file's folder): the Shadow Hand keeps its
    bodies in an included ``robot.xml``."""
    folder = os.path.dirname(os.path.abspath(path))
    tree = ET.parse(path)

    def expand(parent: ET.Element, depth: int) -> None:
        for i, child in reversed(list(enumerate(list(parent)))):
            if child.tag == "include" and child.get("file") and depth < 16:
                included = ET.parse(os.path.join(folder, child.get("file"))).getroot()
                expand(included, depth + 1)
                parent.remove(child)
                for k, grandchild in enumerate(list(included)):
                    parent.insert(i + k, grandchild)
            else:
                expand(child, depth)

    expand(tree.getroot(), 0)
    return tree


_LOCKED_RANGE = 1e-6  # [rad] or [m]: the span given to a joint whose range is one point


def mjcf_without_world_geoms(path: str) -> str:
    """The file (as XML text) without what sits directly under ``<worldbody>`` besides bodies,
    with only a free joint on those bodies (``_root_joints_as_isaac_gym``), and with a joint
    range of a single point (``range="0 0"``, which Isaac Gym takes as a locked joint and
    MuJoCo's compiler refuses) given a span of ``_LOCKED_RANGE``: the joint stays a DOF, held at
    that point by its limit."""
    tree = _mjcf_tree(path)
    world = tree.getroot().find("worldbody")
    if world is not None:
        for child in list(world):
            if child.tag != "body":
                world.remove(child)
            else:
                _root_joints_as_isaac_gym(child)
    for joint in tree.getroot().iter("joint"):
        bounds = (joint.get("range") or "").split()
        if len(bounds) == 2 and float(bounds[0]) == float(bounds[1]):
            joint.set("range", f"{bounds[0]} {float(bounds[0]) + _LOCKED_RANGE!r}")
    return ET.tostring(tree.getroot(), encoding="unicode")


def _root_joints_as_isaac_gym(body) -> None:
    """An actor's root body joins the world by a free joint or none (``fix_base_link``): Isaac
    Gym's importer keeps no other joint of it. Ingenuity's chassis has a locked hinge there, and
    the task expects 4 DOFs, not 5. Such joints are dropped and the root floats."""
    dropped = [j for j in body.findall("joint") if j.get("type") != "free"]
    for joint in dropped:
        body.remove(joint)
    if dropped and body.find("freejoint") is None and not body.findall("joint"):
        ET.SubElement(body, "freejoint")


def mjcf_joint_names(path: str) -> dict[str, list[str]]:
    """Body name -> the names of its hinge and slide joints, in file order (default classes and
    ``childclass`` resolved for the joint type)."""
    root = _mjcf_tree(path).getroot()
    defaults: dict[str, str] = {}

    def walk_defaults(node, inherited: str) -> None:
        joint = node.find("joint")
        jtype = joint.get("type", inherited) if joint is not None else inherited
        defaults[node.get("class", "main")] = jtype
        for child in node.findall("default"):
            walk_defaults(child, jtype)

    for top in root.findall("default"):
        walk_defaults(top, "hinge")
    out: dict[str, list[str]] = {}

    def walk_bodies(body, childclass: str) -> None:
        cls = body.get("childclass", childclass)
        names = []
        for j in body.findall("joint"):
            jtype = j.get("type") or defaults.get(j.get("class", cls), defaults.get("main", "hinge"))
            if jtype in ("hinge", "slide") and j.get("name"):
                names.append(j.get("name"))
        out[body.get("name", "")] = names
        for child in body.findall("body"):
            walk_bodies(child, cls)

    world = root.find("worldbody")
    for body in world.findall("body") if world is not None else []:
        walk_bodies(body, "main")
    return out
