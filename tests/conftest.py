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


def sample_cell(folder: Path, cell_id: str | list[str], edit=lambda entry: entry) -> Path:
    """``folder`` made an experiment of one cell (or of the cells of a list of ids) of
    sample_data/experiment.toml (their entries, each changed by ``edit``, and their files
    copied); the project's protocols are found from there."""
    import re
    import shutil

    text = (ROOT / "sample_data" / "experiment.toml").read_text()
    entries = []
    folder.mkdir(parents=True, exist_ok=True)
    for one in [cell_id] if isinstance(cell_id, str) else cell_id:
        entry = re.search(rf'\[\[cell\]\]\nid = "{re.escape(one)}".*?(?=\n\[\[cell\]\]|\Z)',
                          text, re.S).group(0)
        for name in re.search(r"files = \[(.*?)\]", entry).group(1).replace('"', "").split(", "):
            shutil.copy(ROOT / "sample_data" / name, folder)
        entries.append(edit(entry).rstrip() + "\n")
    (folder / "experiment.toml").write_text(
        f'[experiment]\nprotocol_dirs = ["{(ROOT / "protocols").as_posix()}"]\n\n' + "\n".join(entries))
    return folder


def one_cell_manifest(files: list[str], cell_id: str = "c1", head: str = "") -> str:
    """experiment.toml of one Li4Ag symmetric cell (protocol symmetric-li-ag) with ``files``;
    ``head``: lines of its [experiment] table."""
    listed = ", ".join(f'"{f}"' for f in files)
    return (f"[experiment]\n{head}\n" if head else "") + f"""
[[cell]]
id = "{cell_id}"
type = "symmetric"
anode = "Li4Ag"
protocol = "symmetric-li-ag"
area_cm2 = 0.785
files = [{listed}]
"""
