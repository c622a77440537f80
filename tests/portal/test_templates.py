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
    return dataclasses.replace(data, version=2, sections=sections)


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
    assert service.template.version == 2
    kept = ItemState.objects.get(service=service, item_key="security.cors_allowlist")
    assert kept.state == "done" and kept.item is not None and kept.item.template.version == 2
    assert ItemState.objects.get(service=service, item_key="security.mfa_admins").state == "open"
    orphan = ItemState.objects.get(service=service, item_key="data.schema_versioning")
    assert orphan.item is None
    assert service.audit_events.filter(action="template_upgraded").count() == 1


def test_the_import_command_reports_added_and_removed_items(tmp_path, template, capsys) -> None:
    source = DEFAULT_TEMPLATE.read_text().replace("version = 1", "version = 2", 1)
    source = source.replace('key = "security.secrets_env"', 'key = "security.secrets_manager"')
    path = tmp_path / "v2.toml"
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
