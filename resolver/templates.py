"""Data templates (数据模板) of the SNMS API and the registration rules checked against them.

A template is keyed by (prefix, version) and lists attribute items; identifier values registered through the
SNMS API must follow it (http-apis.md §2.4, §2.5): index 1001 is reserved for the template reference,
attribute indexes start at 2000, the value type must equal the item's ``idType``, only ``string`` data,
lengths within the item's ``minLength``/``maxLength``, required items present, disabled items
(``state`` 0) refused.
Every violation is reported, each naming its rule, in Chinese as the SNMS documents do plus English detail.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TEMPLATE_INDEX = 1001  # http-apis.md §2.4: reserved for the template reference
TEMPLATE_TYPES = ("TEMPLATE", "TEMPLATE_ID")  # §2.3 notes: accept both names, emit TEMPLATE
FIRST_ATTRIBUTE_INDEX = 2000  # §2.4, §2.5 idIndex
MAX_VALUE_LENGTH = 255  # §2.3 value[i].data.value
MAX_TYPE_LENGTH = 128  # §2.3 value[i].type
MAX_PREFIX_LENGTH = 64  # §2.5 prefix
MAX_VERSION_LENGTH = 128  # §2.5 version
MAX_ITEMS = 500  # ours: bounds the work of one validation
_INDUSTRY = ("industryCategory", "industrySpecific", "industryTrade", "industrySubclass")


class TemplateError(ValueError):
    """A template object breaks a rule; the message names the field."""


@dataclass(frozen=True, slots=True)
class TemplateItem:
    name: str
    id_type: str
    id_index: int
    min_length: int
    max_length: int
    required: bool = False
    state: int = 1  # v5: 0 disabled, 1 enabled
    metadata_id: int = 0


@dataclass(frozen=True, slots=True)
class Template:
    prefix: str
    version: str
    industry: tuple[str, str, str, str]
    type: int
    items: tuple[TemplateItem, ...]
    name: str = ""
    description: str = ""
    handle: str = ""
    id: int = 0

    def item_at(self, index: int) -> TemplateItem | None:
        return next((item for item in self.items if item.id_index == index), None)


@dataclass(frozen=True, slots=True)
class AttributeValue:
    """One ``value[i]`` of an SNMS identifier object."""

    index: int
    type: str
    value: str
    format: str = "string"
    auth: str = ""


def template_key(prefix: str, version: str) -> str:
    """The document key of a template; the prefix is canonical (upper-cased) by the caller."""
    return f"{prefix}|{version}"


# --- parsing ------------------------------------------------------------------------------------------


def _string(obj: Mapping[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    value = obj.get(name)
    if value is None or value == "":
        if required:
            raise TemplateError(f"缺少必要的参数: {name} (field {name} is required)")
        return ""
    if not isinstance(value, str):
        raise TemplateError(f"参数类型错误: {name} (field {name} must be a string)")
    if len(value) > limit:
        raise TemplateError(f"参数过长: {name} (field {name} is longer than {limit} characters)")
    return value


def _integer(obj: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    value = obj.get(name)
    if value is None or value == "":
        if default is None:
            raise TemplateError(f"缺少必要的参数: {name} (field {name} is required)")
        return default
    # §2.5: examples send idIndex as the string "2000"; accept numeric strings, refuse booleans.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TemplateError(f"参数类型错误: {name} (field {name} must be an integer)")


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TemplateError(f"参数类型错误: {where} (must be a JSON object)")
    return value


def parse_item(obj: Any, where: str, default_index: int, *, v5: bool) -> TemplateItem:
    item = _mapping(obj, where)
    meta = _mapping(item.get("metadata"), f"{where}.metadata")
    if meta.get("type", "string") != "string":
        raise TemplateError(f"元数据类型只支持string: {where}.metadata.type (only 'string' is supported)")
    min_len = _integer(meta, "minLength")
    max_len = _integer(meta, "maxLength")
    if not 0 <= min_len <= max_len <= MAX_VALUE_LENGTH:
        raise TemplateError(
            f"长度范围错误: {where}.metadata (need 0 <= minLength <= maxLength <= {MAX_VALUE_LENGTH})"
        )
    index = _integer(item, "idIndex", default=default_index) if v5 else default_index
    if index < FIRST_ATTRIBUTE_INDEX:
        raise TemplateError(f"索引从2000开始: {where}.idIndex (attribute indexes start at 2000, got {index})")
    required = item.get("required", False)
    state = _integer(item, "state", default=1) if v5 else 1
    if not isinstance(required, bool) or state not in (0, 1):
        raise TemplateError(f"参数类型错误: {where}.required/state (boolean / 0 or 1)")
    return TemplateItem(
        name=_string(item, "name", MAX_TYPE_LENGTH),
        id_type=_string(item, "idType", MAX_TYPE_LENGTH),
        id_index=index,
        min_length=min_len,
        max_length=max_len,
        required=required,
        state=state,
        metadata_id=_integer(item, "metadataId", default=0),
    )


def parse_items(raw: Any, *, v5: bool, taken: Iterable[int] = ()) -> tuple[TemplateItem, ...]:
    if not isinstance(raw, list) or not raw:
        raise TemplateError("缺少必要的参数: items (items must be a non-empty array)")
    if len(raw) > MAX_ITEMS:
        raise TemplateError(f"模板属性过多: items (at most {MAX_ITEMS})")
    used = set(taken)
    items: list[TemplateItem] = []
    for position, obj in enumerate(raw):
        # An item without idIndex takes the next free index from 2000 (§2.5 "defaults to 2000").
        default = _next_free(used)
        item = parse_item(obj, f"items[{position}]", default, v5=v5)
        used.add(item.id_index)
        items.append(item)
    check_unique(items)
    return tuple(items)


def _next_free(used: Container[int]) -> int:
    index = FIRST_ATTRIBUTE_INDEX
    while index in used:
        index += 1
    return index


def check_unique(items: Sequence[TemplateItem]) -> None:
    for field_name, label in (("id_index", "idIndex"), ("id_type", "idType"), ("name", "name")):
        seen: set[object] = set()
        for item in items:
            value = getattr(item, field_name)
            if value in seen:
                raise TemplateError(f"模板属性重复: {label} {value} (each item's {label} must be unique)")
            seen.add(value)


def parse_template(obj: Any, *, v5: bool) -> Template:
    """A template object of POST /snms/api/{v3,v5}/template (http-apis.md §2.5)."""
    body = _mapping(obj, "body")
    kind = _integer(body, "type")
    if kind not in (1, 2):
        raise TemplateError("参数错误: type (1 = active identifier carrier, 2 = other)")
    industry = tuple(_string(body, name, 32) for name in _INDUSTRY)
    return Template(
        prefix=_string(body, "prefix", MAX_PREFIX_LENGTH),
        version=_string(body, "version", MAX_VERSION_LENGTH),
        industry=(industry[0], industry[1], industry[2], industry[3]),
        type=kind,
        items=parse_items(body.get("items"), v5=v5),
        name=_string(body, "name", MAX_VERSION_LENGTH, required=False),
        description=_string(body, "description", 1024, required=False),
        handle=_string(body, "handle", MAX_VALUE_LENGTH, required=False),
    )


def apply_edit(current: Template, obj: Any) -> Template:
    """PUT /snms/api/v5/template: an incremental update (http-apis.md §2.5 "v5 edit rules").

    Items are identified by (idIndex, idType); an item without idIndex, or with an unknown one, is added;
    items not sent stay as they are; items are never deleted, only disabled with ``state`` 0.
    """
    body = _mapping(obj, "body")
    raw_items = body.get("items")
    items = {item.id_index: item for item in current.items}
    if raw_items is not None:
        for position, raw in enumerate(_list(raw_items, "items")):
            _merge_item(items, raw, f"items[{position}]")
    merged = sorted(items.values(), key=lambda item: item.id_index)
    check_unique(merged)
    kind = _integer(body, "type", default=current.type)
    if kind not in (1, 2):
        raise TemplateError("参数错误: type (1 = active identifier carrier, 2 = other)")
    industry = tuple(
        _string(body, name, 32, required=False) or old
        for name, old in zip(_INDUSTRY, current.industry, strict=True)
    )
    return dataclasses.replace(
        current,
        type=kind,
        industry=(industry[0], industry[1], industry[2], industry[3]),
        items=tuple(merged),
        name=_string(body, "name", MAX_VERSION_LENGTH, required=False) or current.name,
        description=_string(body, "description", 1024, required=False) or current.description,
    )


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TemplateError(f"参数类型错误: {where} (must be an array)")
    if len(value) > MAX_ITEMS:
        raise TemplateError(f"模板属性过多: {where} (at most {MAX_ITEMS})")
    return value


def _merge_item(items: dict[int, TemplateItem], raw: Any, where: str) -> None:
    obj = _mapping(raw, where)
    index = _integer(obj, "idIndex", default=_next_free(items))
    existing = items.get(index)
    if existing is None:
        items[index] = parse_item({**obj, "idIndex": index}, where, index, v5=True)
        return
    if obj.get("idType", existing.id_type) != existing.id_type:
        raise TemplateError(f"属性不匹配: {where} (idIndex {index} has idType {existing.id_type!r})")
    if "state" not in obj:
        raise TemplateError(f"缺少必要的参数: {where}.state (state is required when editing an item)")
    merged = {**template_item_json(existing, v5=True), **obj}
    items[index] = parse_item(merged, where, index, v5=True)


# --- JSON and storage forms -------------------------------------------------------------------------


def template_item_json(item: TemplateItem, *, v5: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": item.name,
        "idType": item.id_type,
        "required": item.required,
        "metadataId": item.metadata_id,
        "metadata": {"type": "string", "minLength": item.min_length, "maxLength": item.max_length},
    }
    if v5:
        out["idIndex"] = item.id_index
        out["state"] = item.state
    return out


def template_json(template: Template, *, v5: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": template.id,
        "prefix": template.prefix,
        "version": template.version,
        "name": template.name,
        "description": template.description,
        **dict(zip(_INDUSTRY, template.industry, strict=True)),
        "type": template.type,
        "items": [template_item_json(item, v5=v5) for item in template.items],
    }
    if v5:
        out["handle"] = template.handle
    return out


def template_from_doc(doc: Mapping[str, Any]) -> Template:
    """Read back what ``template_json(v5=True)`` stored (trusted: written by this module)."""
    parsed = parse_template(doc, v5=True)
    return dataclasses.replace(parsed, id=int(doc.get("id", 0)))


# --- registration -----------------------------------------------------------------------------------


def validate_registration(template: Template, values: Sequence[AttributeValue]) -> list[str]:
    """Every rule the identifier's values break, each naming the rule and the index (empty when valid)."""
    problems: list[str] = []
    seen: set[int] = set()
    for value in values:
        if value.index in seen:
            problems.append(f"索引重复: {value.index} (index {value.index} appears more than once)")
        seen.add(value.index)
        problems.extend(_check_value(template, value))
    problems.extend(
        f"缺少必填项: {item.id_type} (required item {item.id_type} at index {item.id_index} is missing)"
        for item in template.items
        if item.required and item.state == 1 and item.id_index not in seen
    )
    return problems


def _check_value(template: Template, value: AttributeValue) -> list[str]:
    if value.index == TEMPLATE_INDEX:
        return [f"非法操作，索引{TEMPLATE_INDEX}为模板保留索引 (index 1001 is reserved for the template)"]
    item = template.item_at(value.index)
    if item is None:
        return [
            f"非法操作，索引{value.index}在模板中不存在 (index {value.index} is not in template "
            f"{template.version})"
        ]
    problems: list[str] = []
    if item.state != 1:
        problems.append(f"属性已停用: 索引{value.index} (item {item.id_type} is disabled)")
    if value.type != item.id_type:
        problems.append(
            f"类型与模板不匹配: 索引{value.index} (type {value.type!r} != template idType {item.id_type!r})"
        )
    if value.format != "string":
        problems.append(f"数据格式只支持string: 索引{value.index} (data.format must be 'string')")
    if not item.min_length <= len(value.value) <= item.max_length:
        problems.append(
            f"长度不符合模板要求: 索引{value.index} (length {len(value.value)} not in "
            f"{item.min_length}..{item.max_length})"
        )
    return problems
