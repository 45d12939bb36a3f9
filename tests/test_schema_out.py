"""Structured output's schema side (jupyter_providers/_schema_out.py): a dataclass, TypedDict, pydantic class or
JSON Schema dict as the JSON Schema sent, and a reply's text as its validated value."""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Annotated, Any, Literal, Optional, TypedDict, Union

import jsonschema
import pytest

from jupyter_providers._schema_out import OutputSchema, output_schema, parse_output
from jupyter_providers.errors import BadResponseError, InvalidValueError, SchemaError
from tests.fakes._schema import sample_value


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    x: float
    y: float


@dataclasses.dataclass
class Shape:
    """A shape on a canvas."""

    name: str
    sides: int
    filled: bool
    color: Color
    kind: Literal["polygon", "curve"]
    points: list[Point]
    labels: dict[str, int]
    note: Optional[str] = None  # noqa: UP045 - the spelling people use
    ratio: float | None = None
    size: Annotated[int, "in px"] = 0


class Movie(TypedDict):
    title: str
    year: int
    cast: list[str]


class Partial(TypedDict, total=False):
    title: str


def test_a_dataclass_becomes_a_strict_json_schema() -> None:
    out = output_schema(Shape)
    s = out.schema
    # a dict[str, X] is an object open to any key: OpenAI's strict mode has no such object, so strict is off
    assert out.name == "Shape" and not out.strict and output_schema(Point).strict
    assert s["type"] == "object" and s["additionalProperties"] is False
    assert s["required"] == list(s["properties"]) == [f.name for f in dataclasses.fields(Shape)]
    assert s["description"] == "A shape on a canvas."
    p = s["properties"]
    assert p["name"] == {"type": "string"} and p["sides"] == {"type": "integer"} and p["filled"] == {"type": "boolean"}
    assert p["color"] == {"enum": ["red", "blue"]} and p["kind"] == {"enum": ["polygon", "curve"]}
    assert p["points"]["items"]["properties"] == {"x": {"type": "number"}, "y": {"type": "number"}}
    assert p["labels"] == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert p["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert p["ratio"] == {"anyOf": [{"type": "number"}, {"type": "null"}]}
    assert p["size"] == {"type": "integer"}
    jsonschema.Draft202012Validator.check_schema(s)


def test_a_reply_becomes_an_instance_built_recursively() -> None:
    text = json.dumps({
        "name": "tri", "sides": 3, "filled": False, "color": "blue", "kind": "polygon",
        "points": [{"x": 0, "y": 1.5}], "labels": {"a": 1}, "note": None, "ratio": 2, "size": 4,
    })  # fmt: skip
    value = parse_output(output_schema(Shape), text)
    assert value == Shape("tri", 3, False, Color.BLUE, "polygon", [Point(0.0, 1.5)], {"a": 1}, None, 2.0, 4)
    assert isinstance(value.points[0], Point) and isinstance(value.points[0].x, float)
    assert isinstance(value.ratio, float) and value.color is Color.BLUE


def test_a_typeddict_is_a_dict_and_its_optional_keys_are_not_required() -> None:
    out = output_schema(Movie)
    assert out.strict and out.schema["required"] == ["title", "year", "cast"]
    value = parse_output(out, '{"title": "Up", "year": 2009, "cast": ["Carl"]}')
    assert value == {"title": "Up", "year": 2009, "cast": ["Carl"]} and type(value) is dict
    partial = output_schema(Partial)
    assert partial.schema["required"] == [] and not partial.strict  # OpenAI's strict mode requires every key
    assert parse_output(partial, "{}") == {}


def test_a_sample_of_every_converted_schema_validates() -> None:
    for tp in (Shape, Movie, Partial, Point):
        out = output_schema(tp)
        jsonschema.validate(sample_value(out.schema), out.schema)
        parse_output(out, json.dumps(sample_value(out.schema)))


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (set, "not set"),
        (42, "not int"),
        ("an object", "not str"),
    ],
)
def test_what_is_not_a_schema_is_refused_in_one_line(bad: Any, words: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        output_schema(bad)
    assert "\n" not in str(err.value) and str(err.value).startswith("schema: ") and words in str(err.value)


@dataclasses.dataclass
class HasTuple:
    pair: tuple[int, int]


@dataclasses.dataclass
class HasIntKeys:
    counts: dict[int, str]


@dataclasses.dataclass
class HasBareList:
    items: list  # type: ignore[type-arg]


@dataclasses.dataclass
class Node:
    children: list[Node]


class Weird(enum.Enum):
    A = (1, 2)


@dataclasses.dataclass
class HasWeird:
    w: Weird


@pytest.mark.parametrize(
    ("tp", "words"),
    [
        (HasTuple, "HasTuple.pair is 'tuple"),
        (HasIntKeys, "dict[str, X]"),
        (HasBareList, "which has no JSON form"),
        (Node, "Node contains itself"),
        (HasWeird, "Weird's values"),
    ],
)
def test_unsupported_field_types_are_refused_naming_the_field(tp: type, words: str) -> None:
    with pytest.raises(InvalidValueError) as err:
        output_schema(tp)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_dict_schema_is_checked_and_sent_in_its_strict_form_when_it_has_one() -> None:
    given = {"type": "object", "title": "my schema!", "properties": {"a": {"type": "string", "default": "x"}}}
    out = output_schema(given)
    assert out.name == "my_schema_" and out.strict
    assert out.schema["required"] == ["a"] and out.schema["additionalProperties"] is False
    assert "default" not in out.schema["properties"]["a"]
    assert given == {"type": "object", "title": "my schema!", "properties": {"a": {"type": "string", "default": "x"}}}
    assert parse_output(out, '{"b": 1}') == {"b": 1}  # validated against the schema given, not the strict form
    open_ = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert not output_schema(open_).strict and output_schema(open_).schema == open_
    with pytest.raises(InvalidValueError, match="not a valid JSON Schema"):
        output_schema({"type": "nonsense"})
    with pytest.raises(InvalidValueError, match="not JSON"):
        output_schema({"type": "object", "x": object()})


def test_property_names_that_are_keywords_are_kept_by_the_strict_form() -> None:
    """The strict form walks the schema by keyword: a property named default, title, format, description,
    properties, required or enum is the user's field, never a keyword to drop or to close."""
    names = ("default", "title", "format", "description", "properties", "required", "enum")
    leaf = {"type": "string", "default": "x", "title": "T", "description": "D"}
    listed = {
        "type": "array",
        "items": {"type": "object", "properties": {"default": {"type": "integer", "default": 1}}},
    }
    given = {
        "type": "object",
        "properties": {**{n: dict(leaf) for n in names}, "items": listed},
        "$defs": {"default": {"type": "object", "properties": {"format": {"type": "integer", "default": 1}}}},
        "required": [],
    }
    out = output_schema(given)
    assert out.strict and list(out.schema["properties"]) == [*names, "items"]
    assert out.schema["required"] == [*names, "items"] and out.schema["additionalProperties"] is False
    for n in names:  # each property kept, with its own keywords but its default, and nothing added to it
        assert out.schema["properties"][n] == {"type": "string", "title": "T", "description": "D"}
    row = out.schema["properties"]["items"]["items"]
    assert row == {"type": "object", "properties": {"default": {"type": "integer"}}, "required": ["default"],
                   "additionalProperties": False}  # fmt: skip
    inner = out.schema["$defs"]["default"]
    assert inner["properties"] == {"format": {"type": "integer"}} and inner["required"] == ["format"]
    value = {**{n: "v" for n in names}, "items": [{"default": 3}]}
    assert parse_output(out, json.dumps(value)) == value
    jsonschema.Draft202012Validator(out.schema).validate(value)  # the form sent accepts the value
    with pytest.raises(jsonschema.ValidationError):  # and requires each of those properties
        jsonschema.Draft202012Validator(out.schema).validate({k: v for k, v in value.items() if k != "default"})
    assert given["properties"]["default"] == leaf  # the schema given is not changed


def test_a_pydantic_class_is_validated_by_pydantic() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Person(pydantic.BaseModel):
        name: str
        age: int = 0
        email: Union[str, None] = None  # noqa: UP007

    out = output_schema(Person)
    assert out.name == "Person" and out.strict and out.schema["required"] == ["name", "age", "email"]
    assert parse_output(out, '{"name": "Ada", "age": 36, "email": null}') == Person(name="Ada", age=36)
    with pytest.raises(SchemaError) as err:
        parse_output(out, '{"name": "Ada", "age": "old"}')
    assert "age" in err.value.validation and err.value.raw_text == '{"name": "Ada", "age": "old"}'


def test_pydantic_is_not_imported_for_other_schemas() -> None:
    import subprocess
    import sys

    code = (
        "import sys, dataclasses\n"
        "from jupyter_providers._schema_out import output_schema, parse_output\n"
        "@dataclasses.dataclass\nclass A:\n    x: int\n"
        "parse_output(output_schema(A), '{\"x\": 1}')\n"
        "parse_output(output_schema({'type': 'object'}), '{}')\n"
        "assert 'pydantic' not in sys.modules, 'pydantic imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Sure! Here it is.", "not JSON"),
        ('{"title": "Up", "year": "2009", "cast": []}', "year: '2009' is not of type 'integer'"),
        ('{"title": "Up", "year": 2009}', "'cast' is a required property"),
        ('{"title": "Up", "year": 2009, "cast": [], "extra": 1}', "Additional properties"),
        ("[" * 100_000, "not JSON"),
    ],
)
def test_a_reply_that_is_not_json_or_does_not_match_is_a_schema_error(text: str, words: str) -> None:
    with pytest.raises(SchemaError) as err:
        parse_output(output_schema(Movie), text)
    assert words in str(err.value) and err.value.raw_text == text and err.value.validation
    assert isinstance(err.value, BadResponseError) and err.value.kind == "bad_response"


def test_a_code_fence_around_the_json_is_allowed() -> None:
    text = '```json\n{"title": "Up", "year": 2009, "cast": []}\n```'
    assert parse_output(output_schema(Movie), text) == {"title": "Up", "year": 2009, "cast": []}


def test_an_output_schema_is_taken_as_it_is() -> None:
    out = output_schema(Movie)
    assert output_schema(out) is out and isinstance(out, OutputSchema)
