from __future__ import annotations

import dataclasses

import pytest
from django.core.management import call_command

from portal import services
from portal.models import ChecklistTemplate, ItemState, Service, TemplateItem
from portal.templates_io import (
    DEFAULT_TEMPLATE,
    ItemData,
    TemplateFileError,
    load_template_file,
    parse_template,
)

GUIDE_SECTIONS = ["security", "data", "api", "observability", "reliability", "docker", "testing"]


def test_the_default_template_carries_the_whole_guide() -> None:
    data = load_template_file(DEFAULT_TEMPLATE)
    assert [s.key for s in data.sections] == GUIDE_SECTIONS
    assert [len(s.items) for s in data.sections] == [7, 6, 4, 5, 5, 6, 6]
    assert len(set(data.item_keys)) == 39
    assert [step.step for step in data.runbook] == [1, 2, 3, 4, 5, 6]
    for item in (i for s in data.sections for i in s.items):
        assert item.guidance and item.guidance != item.title
        assert item.valid_days > 0
        assert item.key.split(".")[0] in GUIDE_SECTIONS


def test_items_that_a_check_can_verify_name_catalog_keys() -> None:
    data = load_template_file(DEFAULT_TEMPLATE)
    by_key = {i.key: i for s in data.sections for i in s.items}
    assert by_key["security.cors_allowlist"].checks == ["security.cors"]
    assert "api.cursor_pagination" in by_key["api.cursor_pagination"].checks
    assert "smoke.health" in data.runbook[1].checks


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[template]\nkey='x'\nname='x'\nversion=0\n[[sections]]\nkey='s'\ntitle='S'", "version"),
        ("[template]\nkey='x'\nname='x'\n[[sections]]\nkey='s'\ntitle='S'", "template.version"),
        ("[template]\nkey='x'\nname='x'\nversion=1\n", "sections"),
        (
            "[template]\nkey='x'\nname='x'\nversion=1\n[[sections]]\nkey='s'\ntitle='S'\n"
            "[[sections.items]]\nkey='s.a'\ntitle='A'\nblocking='yes'\n"
            "evidence_required=true\nvalid_days=3",
            "sections[0].items[0].blocking",
        ),
        ("not = [toml", "not valid TOML"),
    ],
)
def test_a_bad_template_file_is_refused_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(TemplateFileError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_template(text)


def test_importing_the_same_version_twice_changes_nothing(template: ChecklistTemplate) -> None:
    report = services.template_import(data=load_template_file(DEFAULT_TEMPLATE))
    assert report.created is False
    assert ChecklistTemplate.objects.count() == 1
    assert TemplateItem.objects.count() == 39


def _v2():
    data = load_template_file(DEFAULT_TEMPLATE)
    first = data.sections[0]
    new_item = ItemData(
        key="security.mfa_admins",
        title="Admins use MFA",
        guidance="Enforce MFA.",
        blocking=True,
        evidence_required=True,
        valid_days=30,
    )
    # drop the schema-versioning item, add one
    sections = [dataclasses.replace(first, items=[*first.items, new_item])]
    for section in data.sections[1:]:
        items = [i for i in section.items if i.key != "data.schema_versioning"]
        sections.append(dataclasses.replace(section, items=items))
    return dataclasses.replace(data, version=data.version + 1, sections=sections)


def test_upgrading_a_template_keeps_item_states_and_reports_the_difference(
    service: Service, lead
) -> None:
    services.item_transition(
        service=service,
        item_key="security.cors_allowlist",
        action="done",
        actor=lead,
        seen_version=0,
        evidence_url="https://wiki.example.com/cors",
    )
    report = services.template_import(data=_v2())
    assert report.created
    assert report.added == ["security.mfa_admins"]
    assert report.removed == ["data.schema_versioning"]
    assert report.services_upgraded == 1
    service.refresh_from_db()
    assert service.template.version == 4
    kept = ItemState.objects.get(service=service, item_key="security.cors_allowlist")
    assert kept.state == "done" and kept.item is not None and kept.item.template.version == 4
    assert ItemState.objects.get(service=service, item_key="security.mfa_admins").state == "open"
    orphan = ItemState.objects.get(service=service, item_key="data.schema_versioning")
    assert orphan.item is None
    assert service.audit_events.filter(action="template_upgraded").count() == 1


def test_the_import_command_reports_added_and_removed_items(tmp_path, template, capsys) -> None:
    source = DEFAULT_TEMPLATE.read_text().replace("version = 3", "version = 4", 1)
    source = source.replace('"security.secrets_env"', '"security.secrets_manager"')
    path = tmp_path / "v4.toml"
    path.write_text(source)
    call_command("import_template", str(path), "--json")
    out = capsys.readouterr().out
    assert '"added": ["security.secrets_manager"]' in out
    assert '"removed": ["security.secrets_env"]' in out


def test_the_import_command_refuses_a_broken_file_and_writes_nothing(tmp_path, db) -> None:
    from django.core.management.base import CommandError

    path = tmp_path / "bad.toml"
    path.write_text("[template]\nkey='x'\n")
    with pytest.raises(CommandError, match="template not imported"):
        call_command("import_template", str(path))
    assert ChecklistTemplate.objects.count() == 0


# --- v2: what each mapping proves (verifies / supports) ------------------------------------

V1 = DEFAULT_TEMPLATE.parent / "v1.toml"
V2 = DEFAULT_TEMPLATE.parent / "v2.toml"
PARTIAL = {
    # The mappings the issue names as partial, at least (issue 14).
    ("testing.suites_pass", "smoke.health"),
    ("testing.suites_pass", "smoke.ping_db"),
    ("testing.suites_pass", "smoke.crud_cycle"),
    ("observability.structured_logs", "observability.request_id"),
    ("data.write_concern_majority", "db.write_concern"),
    ("testing.coverage", "repo.quality_gates"),
}


def _mappings(data) -> dict[tuple[str, str], str]:
    return {
        (item.key, m.key): m.role for s in data.sections for item in s.items for m in item.mappings
    }


def test_v2_keeps_every_item_key_and_gives_each_of_its_39_mappings_a_role() -> None:
    v1, v2 = load_template_file(V1), load_template_file(V2)
    assert v2.version == 2 and v2.item_keys == v1.item_keys  # item keys are stable forever
    mappings = _mappings(v2)
    assert len(mappings) == 39
    assert set(mappings.values()) == {"verifies", "supports"}
    assert {pair for pair, role in mappings.items() if role == "supports"} >= PARTIAL
    # v1's mappings are all still there (v2 adds one), and v1 files still parse: a bare key
    # meant "ticks the item", so it reads as verifies.
    assert set(_mappings(v1)) <= set(mappings)
    assert set(_mappings(v1).values()) == {"verifies"}


def test_every_mapped_key_is_a_registered_check() -> None:
    from checks.catalog import REGISTRY

    data = load_template_file(DEFAULT_TEMPLATE)
    assert {key for _item, key in _mappings(data)} <= set(REGISTRY)


def test_every_v2_mapping_carries_its_reasoning_as_a_comment() -> None:
    lines = DEFAULT_TEMPLATE.read_text().splitlines()
    entries = [
        i for i, line in enumerate(lines) if line.strip().startswith("{ key = ") and "role" in line
    ]
    assert len(entries) == 39
    for index in entries:
        role = "verifies" if 'role = "verifies"' in lines[index] else "supports"
        comment = lines[index - 1].strip()
        assert comment.startswith("#"), lines[index]
        # the comment block above the entry opens with the same role
        start = index - 1
        while lines[start - 1].strip().startswith("#"):
            start -= 1
        assert lines[start].strip().startswith(f"# {role}:"), lines[index]


@pytest.mark.parametrize(
    ("checks", "message"),
    [
        ('[{ key = "security.cors", role = "proves" }]', "role: 'proves' is not one of"),
        ('[{ key = "security.cors" }]', "checks[0].role: missing"),
        ('[{ key = "security.cors", role = "verifies", weight = 2 }]', "unknown field(s) weight"),
        ('["security.cors", { key = "security.cors", role = "supports" }]', "mapped twice"),
        ("[3]", "must be a { key, role } table"),
    ],
)
def test_a_bad_mapping_is_refused_naming_it(checks: str, message: str) -> None:
    text = (
        "[template]\nkey='x'\nname='x'\nversion=1\n[[sections]]\nkey='s'\ntitle='S'\n"
        "[[sections.items]]\nkey='s.a'\ntitle='A'\nblocking=true\nevidence_required=true\n"
        f"valid_days=3\nchecks = {checks}\n"
    )
    with pytest.raises(TemplateFileError, match=r"sections\[0\]\.items\[0\]\.checks"):
        parse_template(text)
    with pytest.raises(TemplateFileError) as refused:
        parse_template(text)
    assert message in str(refused.value)


def test_upgrading_from_v1_to_v2_keeps_states_by_key_and_takes_the_new_roles(
    db, team, lead
) -> None:
    v1 = services.template_import(data=load_template_file(V1)).template
    service = services.service_create(
        name="Orders", slug="orders", team=team, template=v1, actor=lead
    )
    services.item_transition(
        service=service,
        item_key="testing.suites_pass",
        action="done",
        actor=lead,
        seen_version=0,
        evidence_url="https://ci.example.com/run/1",
    )
    old_item = TemplateItem.objects.get(template=v1, key="testing.suites_pass")
    assert old_item.verify_keys == ["smoke.health", "smoke.ping_db", "smoke.crud_cycle"]
    report = services.template_import(data=load_template_file(V2))
    assert report.created and report.services_upgraded == 1
    assert report.added == [] and report.removed == []
    state = ItemState.objects.select_related("item").get(
        service=service, item_key="testing.suites_pass"
    )
    assert state.state == "done" and state.item.template.version == 2
    assert state.item.verify_keys == [] and len(state.item.support_keys) == 3
    cors = TemplateItem.objects.get(template__version=2, key="security.cors_allowlist")
    assert cors.verify_keys == ["security.cors"] and cors.support_keys == []
