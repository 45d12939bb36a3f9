"""A map's input rows and output table: lists, pandas and polars (each library imported only when it was passed).

A DataFrame is recognised by its class's module, so ``import jupyter_providers`` never imports pandas or polars.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import InvalidValueError

if TYPE_CHECKING:
    from .mapping import MapResult

__all__ = ["STAT_COLUMNS", "frame_out", "rows_of", "schema_fields"]

#: the columns every map result has, after the reply column(s)
STAT_COLUMNS = ("error", "latency_s", "input_tokens", "output_tokens")


def _library(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def rows_of(items: Any) -> tuple[str, list[Any], Any]:
    """(kind, the rows as strings or mappings, the index to give back): kind is ``list``, ``pandas``, ``polars``."""
    lib, name = _library(items), type(items).__name__
    if lib == "pandas" and name == "DataFrame":
        columns = _column_names(items.columns)
        rows = [dict(zip(columns, values, strict=True)) for values in items.itertuples(index=False, name=None)]
        return "pandas", rows, items.index
    if lib == "pandas" and name == "Series":
        return "pandas", list(items.tolist()), items.index
    if lib == "polars" and name == "DataFrame":
        return "polars", items.to_dicts(), None
    if lib == "polars" and name == "Series":
        return "polars", items.to_list(), None
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidValueError(
            f"items: give a list of strings or dicts, or a DataFrame, not {type(items).__name__} "
            "(for one prompt, use chat())"
        )
    rows = list(items)
    for i, row in enumerate(rows):
        if not isinstance(row, str | Mapping):
            raise InvalidValueError(f"items: row {i} is {type(row).__name__}; give strings or dicts")
    return "list", rows, None


def _column_names(labels: Any) -> list[str]:
    """A pandas frame's column labels as the names a template uses (``str``): one name per column, or a one-line
    error naming the labels that share one (a template could not tell them apart)."""
    names = [str(c) for c in labels]
    first: dict[str, Any] = {}
    for label, name in zip(labels, names, strict=True):
        if name in first:
            if type(first[name]) is type(label):  # the same label, or two that str() cannot tell apart
                what = f"the column {label!r} is there more than once"
            else:
                what = f"the columns {first[name]!r} and {label!r} are both {name!r} in a template"
            raise InvalidValueError(f"items: {what}; rename one (df.columns)")
        first[name] = label
    return names


def schema_fields(schema: Mapping[str, Any]) -> list[str] | None:
    """The field names of a JSON Schema (``_schema_out.OutputSchema.check``: what a pydantic model, a dataclass
    or a TypedDict becomes), or None for a value that is not an object (it goes in one ``data`` column)."""
    props = schema.get("properties")
    if not isinstance(props, Mapping) or schema.get("type", "object") != "object":
        return None
    return [str(k) for k in props]


def _as_dict(data: Any) -> Mapping[str, Any] | None:
    if isinstance(data, Mapping):
        return data
    dump = getattr(data, "model_dump", None)
    if callable(dump):
        out = dump()
        return out if isinstance(out, Mapping) else None
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        return {f.name: getattr(data, f.name) for f in dataclasses.fields(data)}
    return None


def columns_of(results: list[MapResult], schema: Any) -> dict[str, list[Any]]:
    """The output columns: ``reply`` (or one per schema field, or ``data``), then :data:`STAT_COLUMNS`."""
    cols: dict[str, list[Any]] = {}
    if schema is None:
        cols["reply"] = [r.text for r in results]
    else:
        names = schema_fields(schema)
        if names is None:
            cols["data"] = [r.data for r in results]
        else:
            clash = [n for n in names if n in STAT_COLUMNS]
            if clash:  # checked before the map too (mapping.chat_map): never after the tokens were spent
                raise InvalidValueError(f"schema: the field {clash[0]!r} has the name of a result column")
            values = [_as_dict(r.data) for r in results]
            for n in names:
                cols[n] = [v.get(n) if v is not None else None for v in values]
    cols["error"] = [r.error for r in results]
    cols["latency_s"] = [r.latency_s for r in results]
    cols["input_tokens"] = [r.usage.input_tokens for r in results]
    cols["output_tokens"] = [r.usage.output_tokens for r in results]
    return cols


def frame_out(kind: str, index: Any, results: list[MapResult], schema: Any) -> Any:
    """The results as the kind of DataFrame that came in (its library is imported already: it made the input)."""
    cols = columns_of(results, schema)
    if kind == "pandas":
        pd = sys.modules["pandas"]
        return pd.DataFrame(cols, index=index)
    pl = sys.modules["polars"]
    return pl.DataFrame(cols, strict=False)
