"""Text metadata inside a .tflite: the model description and named metadata buffers.

An app (or `dc2kit verify`) reading a .tflite sees what the file says about itself, e.g. that
its weights are RANDOM (untrained). The flatbuffer is rewritten through LiteRT's own object API
(`schema_py_generated`), which keeps every tensor, buffer and op as converted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from dc2kit.convert.errors import ExportError, first_line


def add_metadata(flatbuffer: bytes, description: str, entries: Mapping[str, str]) -> bytes:
    """`flatbuffer` with its description set and one UTF-8 metadata buffer per entry."""
    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
    except Exception as error:  # the schema code raises whatever a malformed buffer triggers
        raise ExportError(f"not a readable .tflite flatbuffer ({first_line(error)})") from error
    model.description = description
    kept = [m for m in model.metadata or [] if m.name.decode() not in entries]
    for name, text in entries.items():
        buffer = schema.BufferT()
        buffer.data = list(text.encode())
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        kept.append(entry)
    model.metadata = kept
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def read_metadata(path: str | Path) -> tuple[str, dict[str, str]]:
    """(description, {name: text}) of a .tflite's text metadata (binary entries are skipped)."""
    try:
        data = Path(path).read_bytes()
        model = schema.Model.GetRootAs(data, 0)
        description = (model.Description() or b"").decode()
        entries = {}
        for index in range(model.MetadataLength()):
            entry = model.Metadata(index)
            raw = model.Buffers(entry.Buffer()).DataAsNumpy()
            try:
                entries[entry.Name().decode()] = bytes(raw).decode()
            except (UnicodeDecodeError, TypeError):
                continue  # e.g. the converter's own binary runtime-version entry
    except (OSError, ValueError, IndexError, AttributeError) as error:
        raise ExportError(f"{path}: cannot read its metadata ({first_line(error)})") from error
    return description, entries
