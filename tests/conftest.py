from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture
def shared_file():
    """Path to a file under ../shared, skipping the test when the folder is absent."""

    def resolve(relative: str) -> Path:
        path = SHARED / relative
        if not path.exists():
            pytest.skip(f"{path} is absent (a user checkout has no ../shared)")
        return path

    return resolve
