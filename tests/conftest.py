from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_files(sub: str, pattern: str) -> list[Path]:
    """Files of ../shared/corpus/<sub> matching pattern (empty when the corpus is absent)."""
    folder = CORPUS / sub
    return sorted(folder.glob(pattern)) if folder.is_dir() else []


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip("../shared/corpus is absent")
    return CORPUS
