"""Template parsing, the v5 incremental edit and each registration rule."""

from __future__ import annotations

from typing import Any

import pytest

from resolver.templates import (
    AttributeValue,
    Template,
    TemplateError,
    apply_edit,
    parse_template,
    template_from_doc,
    template_json,
    validate_registration,
)
from tests.resolver.template_docs import template_obj


@pytest.fixture
def template() -> Template:
    return parse_template(template_obj(), v5=True)


def test_parse_v5(template: Template) -> None:
    assert [item.id_index for item in template.items] == [2000, 2001]
    assert template.items[0].required and not template.items[1].required


def test_v3_assigns_indexes_from_2000() -> None:
    obj = template_obj()
    for item in obj["items"]:
        item.pop("idIndex")
    parsed = parse_template(obj, v5=False)
    assert [item.id_index for item in parsed.items] == [2000, 2001]
    assert "idIndex" not in template_json(parsed, v5=False)["items"][0]


def test_json_round_trip(template: Template) -> None:
    assert template_from_doc(template_json(template)) == template


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"prefix": ""}, "prefix"),
        ({"version": None}, "version"),
        ({"industryTrade": 7}, "industryTrade"),
        ({"type": 3}, "type"),
        ({"type": True}, "type"),
        ({"items": []}, "items"),
        (
            {
                "items": [
                    {"name": "a", "idType": "a", "metadata": {"type": "int", "minLength": 0, "maxLength": 1}}
                ]
            },
            "metadata.type",
        ),
        ({"items": [{"name": "a", "idType": "a", "metadata": {"minLength": 5, "maxLength": 1}}]}, "metadata"),
        ({"items": [{"name": "a", "idType": "a", "metadata": {"minLength": 0}}]}, "maxLength"),
        (
            {
                "items": [
                    {
                        "name": "a",
                        "idType": "a",
                        "idIndex": 1999,
                        "metadata": {"minLength": 0, "maxLength": 1},
                    }
                ]
            },
            "idIndex",
        ),
        (
            {
                "items": [
                    {"name": "a", "idType": "a", "metadata": {"minLength": 0, "maxLength": 1}},
                    {"name": "b", "idType": "a", "metadata": {"minLength": 0, "maxLength": 1}},
                ]
            },
            "idType",
        ),
        ({"items": ["x"]}, "items[0]"),
    ],
)
def test_invalid_template_names_field(change: dict[str, Any], names: str) -> None:
    with pytest.raises(TemplateError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_template(template_obj(**change), v5=True)


def test_edit_adds_updates_and_disables(template: Template) -> None:
    edited = apply_edit(
        template,
        {
            "items": [
                {"idIndex": 2001, "idType": "model", "state": 0},
                {
                    "name": "颜色",
                    "idType": "color",
                    "metadata": {"type": "string", "minLength": 0, "maxLength": 9},
                },
            ],
            "description": "pumps",
        },
    )
    assert [(i.id_index, i.id_type, i.state) for i in edited.items] == [
        (2000, "name", 1),
        (2001, "model", 0),
        (2002, "color", 1),
    ]
    assert edited.description == "pumps" and edited.version == template.version


def test_edit_rules(template: Template) -> None:
    with pytest.raises(TemplateError, match="idType"):
        apply_edit(template, {"items": [{"idIndex": 2000, "idType": "other", "state": 1}]})
    with pytest.raises(TemplateError, match="state"):
        apply_edit(template, {"items": [{"idIndex": 2000, "idType": "name"}]})
    with pytest.raises(TemplateError, match="name"):
        apply_edit(
            template,
            {"items": [{"name": "名称", "idType": "x", "metadata": {"minLength": 0, "maxLength": 1}}]},
        )


def ok_values() -> list[AttributeValue]:
    return [AttributeValue(2000, "name", "pump"), AttributeValue(2001, "model", "P1")]


def test_valid_registration(template: Template) -> None:
    assert validate_registration(template, ok_values()) == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([AttributeValue(1001, "TEMPLATE", "1.0"), AttributeValue(2000, "name", "x")], "1001"),
        ([AttributeValue(2000, "name", "x"), AttributeValue(2005, "name", "x")], "索引2005在模板中不存在"),
        ([AttributeValue(2000, "model", "x")], "type 'model' != template idType 'name'"),
        ([AttributeValue(2000, "name", "x", format="base64")], "data.format"),
        ([AttributeValue(2000, "name", "")], "length 0 not in 1..20"),
        ([AttributeValue(2000, "name", "x"), AttributeValue(2001, "model", "toolong")], "length 7"),
        ([AttributeValue(2001, "model", "P1")], "required item name at index 2000 is missing"),
        ([AttributeValue(2000, "name", "a"), AttributeValue(2000, "name", "b")], "appears more than once"),
    ],
)
def test_each_rule_is_named(template: Template, values: list[AttributeValue], expected: str) -> None:
    problems = validate_registration(template, values)
    assert any(expected in problem for problem in problems), problems


def test_disabled_item_refused(template: Template) -> None:
    edited = apply_edit(template, {"items": [{"idIndex": 2001, "idType": "model", "state": 0}]})
    problems = validate_registration(edited, ok_values())
    assert problems == ["属性已停用: 索引2001 (item model is disabled)"]


def test_all_violations_reported(template: Template) -> None:
    values = [AttributeValue(2001, "name", "toolong"), AttributeValue(3000, "x", "y")]
    assert len(validate_registration(template, values)) == 4
