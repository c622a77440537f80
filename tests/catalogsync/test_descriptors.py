"""Backstage descriptors read without Django: entity refs, the envelope, bounds on YAML and on
Locations."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalogsync.descriptors import Refusal, Refused, documents, entity, parse_ref
from catalogsync.sources import MAX_FILE_BYTES, MAX_LOCATION_DEPTH, read_tree


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("orders", "group", "group:default/orders"),
        ("group:payments", None, "group:default/payments"),
        ("Group:Acme/Payments-Team", None, "group:acme/payments-team"),
        ("team.a_b", "group", "group:default/team.a_b"),
    ],
)
def test_entity_refs_read_as_backstage_reads_them(
    text: str, kind: str | None, expected: str
) -> None:
    assert str(parse_ref(text, default_kind=kind)) == expected


@pytest.mark.parametrize("text", ["", "group:", "a b", "x/y/z", "-lead", "n" * 64, 12])
def test_bad_entity_refs_are_refused(text) -> None:
    with pytest.raises(ValueError):
        parse_ref(text, default_kind="group")


def test_an_owner_in_another_namespace_defaults_to_the_components_own() -> None:
    found = entity(
        {
            "apiVersion": "backstage.io/v1alpha1",
            "kind": "Component",
            "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"type": "service", "lifecycle": "production", "owner": "web"},
        }
    )
    assert str(found.ref) == "component:shop/cart" and str(found.owner) == "group:shop/web"


def test_a_refusal_names_the_entity_when_it_got_that_far() -> None:
    with pytest.raises(Refused) as refused:
        entity(
            {
                "apiVersion": "backstage.io/v1beta1",
                "kind": "Group",
                "metadata": {"name": "web"},
                "spec": {"profile": {}},
            }
        )
    assert (
        refused.value.ref == "group:default/web" and refused.value.reason == "spec.type is missing"
    )


def test_an_alias_bomb_is_refused_before_it_expands() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    [found] = list(documents("\n".join(lines), "bomb.yaml"))
    assert isinstance(found, Refusal) and "more than 50 YAML aliases" in found.reason


def test_documents_before_a_broken_one_are_kept() -> None:
    text = "kind: A\n---\nkind: B\n---\nkind: [\n"
    found = list(documents(text, "f.yaml"))
    assert found[:2] == [("f.yaml#1", {"kind": "A"}), ("f.yaml#2", {"kind": "B"})]
    assert isinstance(found[2], Refusal) and found[2].where == "f.yaml#3"


def _location(path: Path, *targets: str) -> None:
    body = "\n".join(f"    - {t}" for t in targets)
    path.write_text(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n"
        f"  name: {path.stem}\nspec:\n  targets:\n{body}\n"
    )


def test_locations_are_followed_only_so_deep(tmp_path: Path) -> None:
    for depth in range(MAX_LOCATION_DEPTH + 2):
        _location(tmp_path / f"l{depth}.yaml", f"./l{depth + 1}.yaml")
    reading = read_tree(tmp_path, start=tmp_path / "l0.yaml")
    assert len(reading.files) == MAX_LOCATION_DEPTH + 1
    assert reading.refusals[-1].reason.endswith(
        f"Locations nested deeper than {MAX_LOCATION_DEPTH} are not followed"
    )


def test_locations_do_not_follow_links_or_read_huge_files(tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-secret.yaml"
    outside.write_text("kind: secret\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.yaml").symlink_to(outside)
    (root / "big.yaml").write_text("x" * (MAX_FILE_BYTES + 1))
    _location(root / "catalog-info.yaml", "./link.yaml", "./big.yaml", "./missing.yaml", "./*.yml")
    reading = read_tree(root)
    reasons = sorted(r.reason for r in reading.refusals)
    assert reasons == [
        f"larger than {MAX_FILE_BYTES} bytes",
        "target './*.yml': matches no file",
        "target './link.yaml': it points outside the source",
        "target './missing.yaml': no such file",
    ]


def test_an_alias_bomb_is_skipped_and_the_next_documents_read() -> None:
    bomb = "\n".join(
        ["a0: &a0 [x, x]"]
        + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    )
    found = list(documents(f"kind: A\n---\n{bomb}\n---\nkind: C\n", "f.yaml"))
    assert found[0] == ("f.yaml#1", {"kind": "A"})
    assert isinstance(found[1], Refusal) and found[1].where == "f.yaml#2"
    assert found[2] == ("f.yaml#3", {"kind": "C"})
