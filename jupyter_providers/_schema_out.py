"""Structured output: a schema given to ``chat(schema=S)`` as JSON Schema, and a reply's text as its value.

``S`` is a JSON Schema dict, a pydantic model class, a dataclass or a TypedDict. Dataclasses and TypedDicts are
converted here, without pydantic, for the types people use in them: ``str``, ``int``, ``float``, ``bool``,
``None``/``Optional``, unions of those, ``list[X]``, ``dict[str, X]``, ``Literal``, enums and nested dataclasses or
TypedDicts; anything else is refused with one line. pydantic is imported only when ``S`` is a pydantic class (it is
then already imported), ``jsonschema`` only when a value is validated.

The reply's text is parsed and validated here (:func:`parse_output`): the value a reply gives is the one the schema
allows, or :class:`~.errors.SchemaError` - a server that cannot constrain its output never gives a wrong value.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin

from .errors import InvalidValueError, SchemaError

__all__ = ["OutputSchema", "output_schema", "parse_output"]

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}
_USE = "use str, int, float, bool, None, list[X], dict[str, X], Literal, an Enum, a dataclass or a TypedDict"


@dataclass(frozen=True)
class OutputSchema:
    """A schema as the adapters send it (``name``, ``schema``, ``strict``) and as the reply's value is checked."""

    name: str
    schema: dict[str, Any]  # what is sent: the strict form when ``strict``
    strict: bool  # every object closed and every property required (OpenAI's ``strict: true`` accepts it)
    #: what the value is checked against and built into: the dict schema given, or the class
    target: Any = field(default=None, compare=False, repr=False)
    check: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _is_typeddict(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__required_keys__")


def _pydantic_model(tp: Any) -> bool:
    """A pydantic model class - known without importing pydantic: a class of it implies it is imported."""
    pyd = sys.modules.get("pydantic")
    return pyd is not None and isinstance(tp, type) and issubclass(tp, pyd.BaseModel)


def _name(text: str) -> str:
    """A schema name every API accepts (OpenAI: ``^[a-zA-Z0-9_-]{1,64}$``)."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text)[:64] or "output"


def _is_union(tp: Any) -> bool:
    origin = get_origin(tp)
    return origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType)


def _type_schema(tp: Any, where: str, seen: tuple[Any, ...]) -> dict[str, Any]:
    """The JSON Schema of one annotation (``where`` names it in a refusal)."""
    if tp is None:
        tp = type(None)
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    origin, args = get_origin(tp), get_args(tp)
    if origin is typing.Annotated:
        return _type_schema(args[0], where, seen)
    if _is_union(tp):
        return {"anyOf": [_type_schema(a, where, seen) for a in args]}
    if origin is Literal:
        if not args or not all(isinstance(a, str | int | float | bool) or a is None for a in args):
            raise InvalidValueError(f"schema: {where}: a Literal of str, int, float, bool or None values only")
        return {"enum": list(args)}
    if origin is list:
        if len(args) != 1:
            raise InvalidValueError(f"schema: {where}: give the type of the items, list[X]")
        return {"type": "array", "items": _type_schema(args[0], f"{where}[]", seen)}
    if origin is dict:
        if len(args) != 2 or args[0] is not str:
            raise InvalidValueError(f"schema: {where}: a dict's keys are strings in JSON; use dict[str, X]")
        return {"type": "object", "additionalProperties": _type_schema(args[1], f"{where}[]", seen)}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        if not values or not all(isinstance(v, str | int | float | bool) for v in values):
            raise InvalidValueError(f"schema: {where}: {tp.__name__}'s values must be str, int, float or bool")
        return {"enum": values}
    if (dataclasses.is_dataclass(tp) and isinstance(tp, type)) or _is_typeddict(tp):
        return _object_schema(tp, seen)
    raise InvalidValueError(f"schema: {where} is {getattr(tp, '__name__', tp)!r}, which has no JSON form; {_USE}")


def _fields(tp: Any) -> dict[str, Any]:
    """A dataclass's or TypedDict's fields and their resolved annotations (``from __future__`` ones too)."""
    try:
        hints = typing.get_type_hints(tp, include_extras=True)
    except Exception as exc:  # a name the module cannot resolve
        raise InvalidValueError(f"schema: the annotations of {tp.__name__} cannot be read ({exc})") from None
    if dataclasses.is_dataclass(tp):
        return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(tp) if f.init}
    return dict(hints)


def _object_schema(tp: Any, seen: tuple[Any, ...]) -> dict[str, Any]:
    if tp in seen:
        raise InvalidValueError(f"schema: {tp.__name__} contains itself; a recursive type has no flat JSON Schema")
    props = {k: _type_schema(v, f"{tp.__name__}.{k}", (*seen, tp)) for k, v in _fields(tp).items()}
    required = [k for k in props if k in tp.__required_keys__] if _is_typeddict(tp) else list(props)
    schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
    schema["additionalProperties"] = False
    if tp.__doc__ and not tp.__doc__.startswith(f"{tp.__name__}("):  # a dataclass's generated doc says nothing
        schema["description"] = " ".join(tp.__doc__.split())[:300]
    return schema


#: JSON Schema keywords whose value is one subschema, a list of subschemas, or a map of names to subschemas
#: (2020-12 and draft 7). Every other keyword's value is data (``enum``, ``default``, ``required``, ``title``...),
#: and the keys of a name map are the user's property or definition names, never keywords.
_ONE = frozenset({
    "items", "additionalProperties", "additionalItems", "unevaluatedItems", "unevaluatedProperties", "contains",
    "propertyNames", "not", "if", "then", "else", "contentSchema",
})  # fmt: skip
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})  # draft 7's ``items`` may be a list
_NAMED = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"})


def _subschemas(schema: dict[str, Any]) -> list[Any]:
    """The subschemas directly under ``schema``, found by keyword: each a dict (or a bool) to walk."""
    out: list[Any] = []
    for k, v in schema.items():
        if k in _NAMED and isinstance(v, dict):
            out.extend(s for s in v.values() if isinstance(s, dict))  # dependencies: a list of names is data
        elif k in _LIST and isinstance(v, list):
            out.extend(v)
        elif k in _ONE:
            out.append(v)
    return out


def _map_subschemas(schema: dict[str, Any], fn: Any) -> dict[str, Any]:
    """``schema`` with ``fn`` applied to each subschema (as :func:`_subschemas` finds them), data kept as is."""
    out: dict[str, Any] = {}
    for k, v in schema.items():
        if k in _NAMED and isinstance(v, dict):
            out[k] = {name: fn(s) if isinstance(s, dict) else s for name, s in v.items()}
        elif k in _LIST and isinstance(v, list):
            out[k] = [fn(s) for s in v]
        elif k in _ONE:
            out[k] = fn(v)
        else:
            out[k] = v
    return out


def _is_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" or isinstance(schema.get("properties"), dict)


def _strict_ok(schema: Any) -> bool:
    """Whether OpenAI's strict mode takes ``schema`` as it is: every object closed, every property required."""
    if not isinstance(schema, dict):
        return True
    if _is_object(schema):
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False or set(schema.get("required") or ()) != set(props):
            return False
    return all(_strict_ok(s) for s in _subschemas(schema))


def _strict_form(schema: Any) -> Any:
    """``schema`` with every object closed and every property required (what openai-python's
    ``to_strict_json_schema`` does for a pydantic model, defaults dropped): a value of it is a value of ``schema``.
    An object that allows other properties on purpose (``additionalProperties`` a schema or true) is left open.
    The walk goes by keyword (:data:`_ONE`, :data:`_LIST`, :data:`_NAMED`), so a property named ``default``,
    ``title`` or ``properties`` is a property, never a keyword."""
    if not isinstance(schema, dict):
        return schema
    out = _map_subschemas(schema, _strict_form)
    out.pop("default", None)
    if isinstance(out.get("properties"), dict) and "additionalProperties" not in out:
        out["additionalProperties"] = False
        out["required"] = list(out["properties"])
    return out


def _check_dict(schema: dict[str, Any]) -> None:
    """A dict schema, checked against its metaschema (the ``$schema`` it names, else 2020-12)."""
    import jsonschema

    try:
        json.dumps(schema)
        jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator).check_schema(schema)
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"schema: the dict is not JSON ({exc})") from None
    except jsonschema.SchemaError as exc:
        raise InvalidValueError(f"schema: not a valid JSON Schema: {exc.message}") from None


def output_schema(s: Any) -> OutputSchema:
    """``s`` (a JSON Schema dict, a pydantic model class, a dataclass or a TypedDict) as an :class:`OutputSchema`;
    anything else raises :class:`~.errors.InvalidValueError` in one line."""
    if isinstance(s, OutputSchema):
        return s
    if isinstance(s, dict):
        _check_dict(s)
        title = s.get("title")
        name = _name(title if isinstance(title, str) else "output")
        check = s
    elif _pydantic_model(s):
        check = s.model_json_schema()
        name = _name(s.__name__)
    elif isinstance(s, type) and (dataclasses.is_dataclass(s) or _is_typeddict(s)):
        check = _object_schema(s, ())
        name = _name(s.__name__)
    else:
        what = s.__name__ if isinstance(s, type) else type(s).__name__
        raise InvalidValueError(
            f"schema: give a JSON Schema dict, a pydantic model class, a dataclass or a TypedDict, not {what}"
        )
    strict = _strict_form(check)
    ok = _strict_ok(strict)
    return OutputSchema(name, strict if ok else check, ok, s, check)


_FENCE = re.compile(r"\A\s*```[a-zA-Z]*\s*\n(.*?)\n\s*```\s*\Z", re.S)


def _schema_error(message: str, raw: str, why: str) -> SchemaError:
    return SchemaError(f"{message} - the raw text is kept (reply.text, err.raw_text)", raw_text=raw, validation=why)


def parse_output(out: OutputSchema, text: str) -> Any:
    """The value of a reply's ``text`` under ``out``: parsed, validated, and built into the class it names
    (a dataclass recursively, a pydantic model by ``model_validate``, a TypedDict as a dict).
    A text that is not JSON (a code fence around it is allowed) or does not validate raises :class:`SchemaError`."""
    m = _FENCE.match(text)
    try:
        value = json.loads(m.group(1) if m else text)
    except (ValueError, RecursionError) as exc:
        raise _schema_error(f"the reply is not JSON ({exc})", text, str(exc)) from None
    target = out.target
    if _pydantic_model(target):
        import pydantic

        try:
            return target.model_validate(value)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": str(exc)}
            why = f"{'.'.join(str(p) for p in first['loc']) or '(top)'}: {first['msg']}"
            raise _schema_error(f"the reply does not match {target.__name__}: {why}", text, str(exc)) from None
    _validate(out.check, value, text)
    return _build(target, value) if isinstance(target, type) else value


def _validate(schema: dict[str, Any], value: Any, text: str) -> None:
    import jsonschema

    cls = jsonschema.validators.validator_for(schema, jsonschema.Draft202012Validator)
    err = jsonschema.exceptions.best_match(cls(schema).iter_errors(value))
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "(top)"
        why = f"{where}: {err.message}"
        raise _schema_error(f"the reply does not match the schema: {why[:300]}", text, why)


def _fits(tp: Any, value: Any) -> bool:
    """Whether an already validated ``value`` is of the union member ``tp`` (to build the right one)."""
    import jsonschema

    try:
        schema = _type_schema(tp, "", ())
    except InvalidValueError:
        return False
    return bool(jsonschema.Draft202012Validator(schema).is_valid(value))


def _build(tp: Any, value: Any) -> Any:
    """A validated JSON ``value`` as an instance of the annotation ``tp`` (dataclasses, enums, floats)."""
    origin, args = get_origin(tp), get_args(tp)
    if origin is typing.Annotated:
        return _build(args[0], value)
    if _is_union(tp):
        return next((_build(a, value) for a in args if _fits(a, value)), value)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if origin is list:
        return [_build(args[0], v) for v in value]
    if origin is dict:
        return {k: _build(args[1], v) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(value)
    if isinstance(tp, type) and (dataclasses.is_dataclass(tp) or _is_typeddict(tp)):
        built = {k: _build(hint, value[k]) for k, hint in _fields(tp).items() if k in value}
        return tp(**built)
    return value
