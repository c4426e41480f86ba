"""Conformance: our SBE layouts match the official sbe-schema-1.xml field by field."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache

import pytest

from shared.paradex.sbe.layout import (
    LEVEL,
    PKG_DELTA,
    PKG_SNAPSHOT,
    SCHEMA_ID,
    SCHEMA_VERSION,
    SIDES,
    TEMPLATES,
    TRADE_TYPES,
    Template,
)
from tests.spec import spec_path

pytestmark = pytest.mark.spec

SBE_NS = "{http://fixprotocol.io/2016/sbe}"
PRIMITIVE_SIZES = {"int8": 1, "uint8": 1, "char": 1, "int16": 2, "uint16": 2, "int32": 4, "uint32": 4,
                   "int64": 8, "uint64": 8}


@dataclass(frozen=True)
class XmlField:
    name: str
    size: int
    since: int
    optional: bool
    exponent: int | None


@cache
def schema() -> ET.Element:
    return ET.parse(spec_path("sbe-schema-1.xml")).getroot()


def types() -> dict[str, ET.Element]:
    found = schema().find("types")
    assert found is not None
    return {el.attrib["name"]: el for el in found}


def type_info(type_name: str) -> tuple[int, bool, int | None]:
    """(encoded size, optional, constant exponent) of a schema type or primitive."""
    if type_name in PRIMITIVE_SIZES:
        return PRIMITIVE_SIZES[type_name], False, None
    el = types()[type_name]
    if el.tag == "type":
        return PRIMITIVE_SIZES[el.attrib["primitiveType"]] * int(el.attrib.get("length", "1")), False, None
    if el.tag in ("enum", "set"):
        return PRIMITIVE_SIZES[el.attrib["encodingType"]], False, None
    assert el.tag == "composite", el.tag
    size, optional, exponent = 0, False, None
    for part in el:
        if part.attrib.get("presence") == "constant":
            exponent = int((part.text or "").strip()) if part.attrib["name"] == "exponent" else exponent
            continue
        size += PRIMITIVE_SIZES[part.attrib["primitiveType"]]
        optional |= part.attrib.get("presence") == "optional"
    return size, optional, exponent


def message(template_id: int) -> ET.Element:
    for el in schema().iter(f"{SBE_NS}message"):
        if int(el.attrib["id"]) == template_id:
            return el
    raise AssertionError(f"template {template_id} not in the schema")


def xml_fields(parent: ET.Element) -> list[XmlField]:
    out = []
    for el in parent.findall("field"):
        size, optional, exponent = type_info(el.attrib["type"])
        optional |= el.attrib.get("presence") == "optional"
        since = int(el.attrib.get("sinceVersion", "0"))
        out.append(XmlField(el.attrib["name"], size, since, optional, exponent))
    return out


def test_schema_id_and_version_are_the_ones_we_encode() -> None:
    root = schema()
    assert int(root.attrib["id"]) == SCHEMA_ID
    assert int(root.attrib["version"]) == SCHEMA_VERSION
    assert root.attrib["byteOrder"] == "littleEndian"


def test_message_header_and_group_header_are_four_uint16_and_two_uint16() -> None:
    header = [t.attrib["primitiveType"] for t in types()["messageHeader"]]
    group = [t.attrib["primitiveType"] for t in types()["groupSizeEncoding"]]
    assert header == ["uint16"] * 4
    assert group == ["uint16"] * 2
    assert types()["varString8"][0].attrib["primitiveType"] == "uint8"


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=lambda t: t.name)
def test_fixed_block_matches_xml_offsets_sizes_versions_and_nullability(template: Template) -> None:
    el = message(template.template_id)
    assert el.attrib["name"] == template.name
    expected = xml_fields(el)
    assert [f.name for f in template.fields] == [f.name for f in expected]
    offset = 0
    ours = template.offsets()
    for mine, theirs in zip(template.fields, expected, strict=True):
        assert ours[mine.name] == offset, mine.name
        assert mine.size == theirs.size, mine.name
        assert mine.since == theirs.since, mine.name
        assert (mine.null is not None) == theirs.optional, mine.name
        offset += theirs.size
    assert template.block.size == offset
    assert template.min_block_length == sum(f.size for f in expected if f.since == 0)


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=lambda t: t.name)
def test_mantissa_exponents_are_minus_8_except_the_rate12_field(template: Template) -> None:
    for f in xml_fields(message(template.template_id)):
        if f.exponent is not None:
            assert f.exponent == (-12 if f.name == "fundingRatePrecise" else -8), f.name


@pytest.mark.parametrize("template", TEMPLATES.values(), ids=lambda t: t.name)
def test_groups_and_var_data_match_xml(template: Template) -> None:
    el = message(template.template_id)
    groups = el.findall("group")
    assert [g.attrib["name"] for g in groups] == list(template.groups)
    for g in groups:
        assert g.attrib["dimensionType"] == "groupSizeEncoding"
        entry = xml_fields(g)
        assert [f.name for f in entry] == ["price", "size"]
        assert sum(f.size for f in entry) == LEVEL.size
    data = el.findall("data")
    assert [(d.attrib["name"], int(d.attrib.get("sinceVersion", "0"))) for d in data] == [
        (d.name, d.since) for d in template.data
    ]
    assert all(d.attrib["type"] == "varString8" for d in data)


def enum_values(name: str) -> dict[int, str]:
    return {int((v.text or "").strip()): v.attrib["name"] for v in types()[name]}


def test_enum_codes_match_xml() -> None:
    assert {k: v for k, v in enum_values("Side").items() if v != "NON_REPRESENTABLE"} == SIDES
    assert {k: v for k, v in enum_values("FillType").items() if v != "NON_REPRESENTABLE"} == TRADE_TYPES
    assert enum_values("PkgType") == {PKG_SNAPSHOT: "SNAPSHOT", PKG_DELTA: "DELTA"}
    assert enum_values("Side")[254] == enum_values("FillType")[254] == "NON_REPRESENTABLE"
