"""What was pushed and deployed per environment, in a JSON file, so that a rollback knows where to go back to."""
from __future__ import annotations

import json
from pathlib import Path

from release.model import BadInput, Image


class History:
    """`<folder>/<environment>.json`: {"pushed": [...], "deployed": [...]}, newest last."""

    def __init__(self, folder: Path, environment: str) -> None:
        self.path = Path(folder) / f"{environment}.json"
        self.environment = environment

    def _read(self) -> dict:
        if not self.path.exists():
            return {"pushed": [], "deployed": []}
        return json.loads(self.path.read_text())

    def _write(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(data, indent=2) + "\n")
        partial.replace(self.path)

    @staticmethod
    def _entry(image: Image) -> dict:
        return {"repository_url": image.repository_url, "tag": image.tag, "digest": image.digest}

    def record_pushed(self, image: Image) -> None:
        data = self._read()
        data["pushed"].append(self._entry(image))
        self._write(data)

    def record_deployed(self, image: Image) -> None:
        data = self._read()
        if not data["deployed"] or data["deployed"][-1] != self._entry(image):
            data["deployed"].append(self._entry(image))
        self._write(data)

    def last_pushed(self) -> Image:
        pushed = self._read()["pushed"]
        if not pushed:
            raise BadInput(f"no image was pushed for {self.environment} (nothing in {self.path}): "
                           f"run `python -m release push --env {self.environment}` first")
        return Image(**pushed[-1])

    def pushed(self, tag: str) -> Image:
        for entry in reversed(self._read()["pushed"]):
            if entry["tag"] == tag:
                return Image(**entry)
        raise BadInput(f"the tag {tag} was never pushed for {self.environment} (not in {self.path}): "
                       f"push it with `python -m release push --env {self.environment}` from that commit")

    def previous(self) -> Image:
        """The image deployed before the current one."""
        deployed = self._read()["deployed"]
        if len(deployed) < 2:
            raise BadInput(f"no earlier release of {self.environment} is recorded in {self.path} "
                           f"({len(deployed)} deployed): nothing to roll back to; deploy a known image with "
                           f"`python -m release deploy --env {self.environment} --tag TAG`")
        return Image(**deployed[-2])
