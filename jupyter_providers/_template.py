"""A map's prompts: each row's fields filled into one template, every row before anything is sent.

A field of the template is a column by its whole name first (``{0}`` is the column ``0``, ``{a.b}`` the column
``a.b``), else by ``str.format`` rules (``{user[name]}``, ``{date.year}``). A value that is missing (``None``,
NaN, ``pd.NA``, ``NaT``, a polars null) in a field the template uses is not sent as ``"nan"``: that row gets a
one-line error and is not sent; the other rows are.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidValueError

__all__ = ["Rendered", "is_missing", "render_prompts"]

#: characters a template cannot hold in a field name (``{a:b}`` is the field ``a`` with the format ``b``)
_UNNAMEABLE = re.compile(r"[:!{}]")


class _Missing(Exception):
    def __init__(self, name: str, value: Any) -> None:
        super().__init__(name)
        self.name, self.value = name, value


def is_missing(value: Any) -> bool:
    """``None``, a float NaN, and pandas' or numpy's missing values (``pd.NA``, ``NaT``, ``np.nan``)."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    lib = type(value).__module__.split(".")[0]
    if lib not in ("numpy", "pandas"):
        return False
    if type(value).__name__ == "NAType":
        return True
    try:
        unequal = value != value  # NaN and NaT are not equal to themselves
        return getattr(unequal, "ndim", 0) == 0 and bool(unequal)  # an array in a cell is not missing
    except (TypeError, ValueError):
        return False


def _shown(value: Any, kind: str) -> str:
    if value is None:
        return "null" if kind == "polars" else "None"
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        return "NaN"
    return str(value)


class _RowFormatter(string.Formatter):
    """``str.format_map`` over a row whose keys are column names, whole names first, missing values refused."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if field_name in kwargs:  # the whole name is a column: {0}, {a.b}, {a[0]}
            return self._checked(field_name, kwargs[field_name]), field_name
        if re.split(r"[.\[]", field_name, maxsplit=1)[0] not in kwargs:
            raise KeyError(field_name)  # named whole in the error: {a.b} is "no field 'a.b'", not 'a'

        return super().get_field(field_name, args, kwargs)

    def get_value(self, key: int | str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        return self._checked(str(key), kwargs[str(key)])

    @staticmethod
    def _checked(name: str, value: Any) -> Any:
        if is_missing(value):
            raise _Missing(name, value)
        return value


_FORMATTER = _RowFormatter()


@dataclass(frozen=True)
class Rendered:
    """Each row's prompt (``""`` for a row not to send), and why each row not to send is not sent."""

    prompts: list[str]
    skipped: dict[int, str]


def _fail(row: int, what: str) -> InvalidValueError:
    return InvalidValueError(f"prompt: row {row}: {what}")


def _no_field(row: int, name: str, fields: list[str], kind: str) -> InvalidValueError:
    what = "column" if kind != "list" else "field"
    hint = "write {{ and }} for literal braces"
    odd = [f for f in fields if not f or _UNNAMEABLE.search(f)]
    if odd:
        hint = f"the {what} {odd[0]!r} cannot be written in a template - rename it; {hint}"
    shown = ", ".join(fields)
    return _fail(row, f"no field {name!r} for {{{name}}} (the fields: {shown}); {hint}")


def _uses_auto_fields(template: str) -> bool:
    try:
        return any(name == "" for _, name, _, _ in string.Formatter().parse(template))
    except ValueError:
        return False  # an unbalanced brace: str.format says so below


def render_prompts(rows: list[Any], template: str | None, kind: str = "list") -> Rendered:
    """Each row's prompt: ``template`` filled with the row's fields (a string row is ``{}`` or ``{item}``), or the
    row itself without a template. A field that no row has is a one-line error, raised before anything is sent;
    a row whose field is a missing value is skipped, its reason in :attr:`Rendered.skipped`.
    ``kind`` is where the rows came from (``list``, ``pandas``, ``polars``): a frame's missing values are skipped
    too when they are the whole row (a Series)."""
    if template is not None and not isinstance(template, str):
        raise InvalidValueError(f"prompt: give the template as a string, not {template!r}")
    auto = template is not None and _uses_auto_fields(template)
    prompts: list[str] = []
    skipped: dict[int, str] = {}
    for i, row in enumerate(rows):
        if kind != "list" and not isinstance(row, Mapping) and is_missing(row):
            skipped[i] = f"the value is missing ({_shown(row, kind)}); not sent"
            prompts.append("")
            continue
        if template is None:
            if not isinstance(row, str):
                raise InvalidValueError(
                    f"prompt: row {i} is not a string - give prompt= a template over its fields, "
                    "e.g. 'Classify this review: {text}'"
                )
            prompts.append(row)
            continue
        fields = [str(k) for k in row] if isinstance(row, Mapping) else []
        try:
            if not isinstance(row, Mapping):
                prompts.append(template.format(row, item=row))
                continue
            if auto:
                raise _fail(i, "{} stands for a string row; name the fields of a row of fields")
            prompts.append(_FORMATTER.vformat(template, (), {str(k): v for k, v in row.items()}))
        except _Missing as missing:
            what = "column" if kind != "list" else "field"
            skipped[i] = f"{what} {missing.name!r} is missing ({_shown(missing.value, kind)}); not sent"
            prompts.append("")
        except KeyError as exc:
            name = str(exc.args[0]) if exc.args else "?"
            if not isinstance(row, Mapping):  # a string row has no named field
                what = f"no field {name!r} for {{{name}}}: the row is a string, which is {{}} or {{item}}"
                raise _fail(i, what) from None
            raise _no_field(i, name, fields, kind) from None
        except IndexError:
            raise _fail(i, "{} stands for a string row; name the fields of a row of fields") from None
        except (ValueError, AttributeError, TypeError) as exc:
            raise _fail(i, f"the template cannot be filled ({exc}); write {{{{ and }}}} for literal braces") from None
    return Rendered(prompts, skipped)
