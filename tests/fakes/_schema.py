"""A canned value of a JSON Schema: what a fake server answers when a chat asks for structured output.

It covers what the package sends (objects, arrays, scalars, enums, const, anyOf/oneOf, ``$ref`` into ``$defs``):
the value validates against the schema it was built from (tests/fakes/test_fakes.py checks it does).
"""

from __future__ import annotations

from typing import Any

_SCALARS: dict[str, Any] = {"string": "text", "integer": 7, "number": 2.5, "boolean": True, "null": None}


def sample_value(schema: Any, root: Any = None, depth: int = 0) -> Any:
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 20:
        return None
    if "$ref" in schema and isinstance(schema["$ref"], str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return sample_value(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            arms = [a for a in schema[key] if not (isinstance(a, dict) and a.get("type") == "null")]
            return sample_value((arms or schema[key])[0], root, depth + 1)
    typ = schema.get("type")
    if isinstance(typ, list):
        typ = next((t for t in typ if t != "null"), typ[0] if typ else None)
    if typ == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        value = {k: sample_value(v, root, depth + 1) for k, v in props.items()}
        extra = schema.get("additionalProperties")
        if not props and isinstance(extra, dict):
            value["key"] = sample_value(extra, root, depth + 1)
        return value
    if typ == "array":
        return [sample_value(schema.get("items") or {}, root, depth + 1)] * max(1, schema.get("minItems") or 1)
    return _SCALARS.get(typ) if isinstance(typ, str) else None
