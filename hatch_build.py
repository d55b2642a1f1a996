"""Build hook: ship the trained model files (models/*.npz, models/README.md) as memsim/_models in the wheel.

Only these files: checkpoints and search runs that training leaves in models/ stay out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        models = Path(self.root) / "models"
        for path in [*sorted(models.glob("*.npz")), models / "README.md"]:
            if path.is_file():
                build_data["force_include"][str(path)] = f"memsim/_models/{path.name}"
