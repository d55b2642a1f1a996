"""Transforms of a profile's data (raw YAML mappings in, new mappings out).

:meth:`memsim.Profile.with_overrides` and :meth:`memsim.Profile.with_vmin` validate
the result by building a new :class:`~memsim.Profile` from it; this module only edits data.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from memsim.errors import ProfileError, format_problem, suggest
from memsim.profile.forms import get_form

__all__ = ["apply_overrides", "relative_to_volts"]


def apply_overrides(raw: Mapping[str, Any], overrides: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A copy of ``raw`` with the fields at dotted paths replaced (list items by index).

    Raises
    ------
    ProfileError
        If a path does not exist.
    """
    data = copy.deepcopy(dict(raw))
    for dotted, value in overrides.items():
        node: Any = data
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ProfileError(
                        format_problem(source, dotted, f"{part!r} is not an index of a list of {len(node)}")
                    )
                if last:
                    node[int(part)] = value
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                elif part not in node:
                    raise ProfileError(format_problem(source, dotted, f"no field {part!r}{suggest(part, node)}"))
                else:
                    node = node[part]
            else:
                raise ProfileError(format_problem(source, dotted, f"cannot descend into {node!r}"))
    return data


def relative_to_volts(raw: Mapping[str, Any], vmin_v: float, source: str, old: str, new: str) -> dict[str, Any]:
    """A copy of ``raw`` with the relative knob ``old`` (x / Vmin) replaced by ``new`` in volts (x * Vmin).

    Raises
    ------
    ProfileError
        If there is no knob ``old``, ``vmin_v`` is not a positive number, or the data holds
        something that cannot be rescaled (a CSV curve, a form without a rescaling rule, fault maps).
    """
    if old not in raw.get("knobs", {}):
        knobs = ", ".join(raw.get("knobs", {}))
        raise ProfileError(format_problem(source, "knobs", f"no {old!r} knob to rescale; knobs: {knobs}"))
    if isinstance(vmin_v, bool) or not isinstance(vmin_v, (int, float)) or not math.isfinite(vmin_v) or vmin_v <= 0:
        raise ProfileError(format_problem(source, "vmin_v", f"{vmin_v!r} must be a positive number of volts"))
    f = float(vmin_v)
    data = copy.deepcopy(dict(raw))
    if data.get("fault_maps") is not None:
        raise ProfileError(format_problem(source, "fault_maps", "fault maps are indexed by their own knob values"))

    def scale(x: float) -> float:  # 12 significant digits: 0.75 * 0.8 is 0.6, not 0.6000000000000001
        return float(f"{x * f:.12g}")

    knob = data["knobs"].pop(old)
    data["knobs"] = {
        new: {**knob, "unit": "V", **{k: scale(knob[k]) for k in ("nominal", "min", "max")}},
        **data["knobs"],
    }

    def rename(block: dict[str, Any], path: str) -> None:
        if block.get("knob") != old:
            return
        block["knob"] = new
        if "points" in block:
            block["points"] = [[scale(row[0]), *row[1:]] for row in block["points"]]
        if "columns" in block:
            block["columns"] = [new, *block["columns"][1:]]
        if "csv" in block:
            raise ProfileError(format_problem(source, path, "a curve in a CSV file cannot be rescaled"))
        if block.get("law") in ("v_exp", "linear"):
            key = "k_per_unit" if block["law"] == "v_exp" else "slope"
            block[key] = block[key] / f

    for i, mech in enumerate(data["mechanisms"]):
        if old in mech.get("grid", {}).get("knobs", ()):
            raise ProfileError(
                format_problem(source, f"mechanisms[{i}].grid", f"a grid over {old!r} cannot be rescaled")
            )
        for part in ("curve", "table"):
            if part in mech:
                rename(mech[part], f"mechanisms[{i}].{part}")
        model = mech.get("model")
        if model is not None and model.get("knob") == old:
            model["knob"] = new
            rescaled = get_form(model["form"]).rescale(model["params"], f)
            if rescaled is None:
                raise ProfileError(
                    format_problem(source, f"mechanisms[{i}].model.form", f"{model['form']!r} cannot be rescaled")
                )
            model["params"] = rescaled
    for section in ("energy", "latency"):
        for key, entry in data[section].items():
            rename(entry, f"{section}.{key}")
            for j, law in enumerate(entry.get("scaling", [])):
                rename(law, f"{section}.{key}.scaling[{j}]")
    data["name"] = f"{data['name']}_vmin{f:g}v"
    data["description"] = f"{data['description']} Rescaled to absolute volts with Vmin = {f:g} V (user-supplied)."
    return data
