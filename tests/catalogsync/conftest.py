from __future__ import annotations

from pathlib import Path

import pytest

from portal.models import ChecklistTemplate
from tests.support.backstage import Catalog, example_catalog, write_catalog


@pytest.fixture
def catalog() -> Catalog:
    return example_catalog()


@pytest.fixture
def catalog_dir(tmp_path: Path, catalog: Catalog, template: ChecklistTemplate) -> Path:
    write_catalog(tmp_path / "catalog", catalog)
    return tmp_path / "catalog"
