"""How one ADK artifact version is stored: a payload file and an entry in a stream.

Every version has a payload file of its own, written create-only under a fresh random
name below the artifact (``parts/<32 hex>.bin`` or ``.json``), and an entry, the item
of the artifact's ``versions`` event stream whose index is the version number. The
entry names the payload and holds what ADK's ``ArtifactVersion`` reports (the time of
the save, the MIME type, the custom metadata), so listing versions with their
metadata reads the stream only, never the payloads.

A Part with inline bytes (an image, a PDF) is stored as those bytes, unchanged, and
its entry keeps the rest of the Part (the ``frame``: the MIME type, a display name,
...). Any other Part (text, a file reference, an ``artifact://`` reference) is stored
as the Part's JSON, the form ``google.genai`` itself writes (bytes fields base64).
"""

from __future__ import annotations

import copy
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .framework import ArtifactVersion, types

__all__ = ["PARTS_FOLDER", "VERSIONS_STREAM", "Entry", "Payload", "json_problem", "payload_of"]

VERSIONS_STREAM = "versions"
"""The event stream of an artifact: item ``n`` is the entry of version ``n``."""
PARTS_FOLDER = "parts"
"""The folder, below the artifact, of its payload files."""


@dataclass(frozen=True, slots=True)
class Payload:
    """The file one saved Part becomes: its name below the artifact and its bytes;
    ``frame`` is the rest of the Part when ``data`` are its inline bytes."""

    name: str
    data: bytes
    frame: dict[str, Any] | None


def payload_of(part: types.Part) -> Payload:
    """The payload file of ``part``, under a fresh name no other save can take."""
    name = f"{PARTS_FOLDER}/{uuid.uuid4().hex}"
    blob = part.inline_data
    if blob is not None and blob.data is not None:
        rest = part.model_copy(update={"inline_data": blob.model_copy(update={"data": None})})
        frame = json.loads(rest.model_dump_json(exclude_none=True))
        return Payload(f"{name}.bin", bytes(blob.data), frame)
    return Payload(f"{name}.json", part.model_dump_json(exclude_none=True).encode(), None)


def json_problem(value: Any, where: str = "$") -> str | None:
    """Why ``value`` cannot be stored as JSON and read back equal (a key that is not a
    string, NaN, bytes, an object), or ``None`` if it can: the rules of the event log,
    checked before a save writes anything."""
    if value is None or isinstance(value, (str, bool, int)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where} is {value}, which JSON cannot hold"
    if isinstance(value, (list, tuple)):
        found = (json_problem(v, f"{where}[{i}]") for i, v in enumerate(value))
        return next((p for p in found if p), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{where} has a key that is not a str: {key!r}"
            problem = json_problem(item, f"{where}.{key}")
            if problem:
                return problem
        return None
    return f"{where} is {type(value).__name__}, which JSON cannot hold"


@dataclass(frozen=True, slots=True)
class Entry:
    """The entry of one version in the artifact's ``versions`` stream."""

    payload: str
    create_time: float
    mime_type: str | None
    custom_metadata: dict[str, Any]
    frame: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The stream item: ``payload``, ``create_time``, ``mime_type``, ``custom_metadata``
        and, for inline bytes, ``frame``."""
        item: dict[str, Any] = {
            "payload": self.payload,
            "create_time": self.create_time,
            "mime_type": self.mime_type,
            "custom_metadata": self.custom_metadata,
        }
        if self.frame is not None:
            item["frame"] = self.frame
        return item

    @classmethod
    def from_json(cls, item: Any) -> Entry:
        """The entry of a stream item; ``ValueError`` naming what is wrong with it."""
        if not isinstance(item, Mapping):
            raise ValueError(f"a version entry must be an object, got {type(item).__name__}")
        payload, at, mime = item.get("payload"), item.get("create_time"), item.get("mime_type")
        metadata, frame = item.get("custom_metadata"), item.get("frame")
        if not isinstance(payload, str) or not payload.startswith(f"{PARTS_FOLDER}/"):
            raise ValueError(f"bad payload name {payload!r}")
        if not isinstance(at, (int, float)) or isinstance(at, bool):
            raise ValueError(f"bad create_time {at!r}")
        if mime is not None and not isinstance(mime, str):
            raise ValueError(f"bad mime_type {mime!r}")
        if not isinstance(metadata, dict) or (frame is not None and not isinstance(frame, dict)):
            raise ValueError("bad custom_metadata or frame")
        return cls(payload, float(at), mime, metadata, frame)

    def part(self, data: bytes) -> types.Part:
        """The Part this entry and its payload's ``data`` were saved from; ``ValueError``
        (pydantic's) if they do not make one."""
        if self.frame is None:
            return types.Part.model_validate_json(data)
        part = types.Part.model_validate_json(json.dumps(self.frame))
        if part.inline_data is None:
            raise ValueError("the frame of inline bytes has no inline_data")
        part.inline_data.data = data
        return part

    def version(self, number: int, canonical_uri: str) -> ArtifactVersion:
        """ADK's description of this entry as version ``number``."""
        return ArtifactVersion(
            version=number,
            canonical_uri=canonical_uri,
            custom_metadata=copy.deepcopy(self.custom_metadata),
            create_time=self.create_time,
            mime_type=self.mime_type,
        )
