"""`echem report` end to end on sample_data/: the numbers it was generated with, the database,
a corrupt file among good ones, escaping, and the page in a real browser (headless Chromium)."""
import csv
import html
import math
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from echem import sampledata
from echem.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data"


def _rows(path):
    with open(path, newline="") as fh:
        return {r["cell_id"]: r for r in csv.DictReader(fh)}


def _num(s):
    return float(s) if s not in ("", None) else math.nan


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("rep")
    db = out / "results.sqlite"
    code = main(["report", str(SAMPLE), "-o", str(out / "report"), "--db", str(db), "--quiet"])
    return code, out / "report", db


def test_summary_recovers_what_the_sample_data_was_generated_with(report):
    code, out, _ = report
    assert code == 0
    got = _rows(out / "summary.csv")
    truth = sampledata.truth().set_index("cell_id")
    assert set(got) == set(truth.index)
    for cell, t in truth.iterrows():
        g = got[cell]
        assert g["cell_type"] == t["cell_type"] and g["anode"] == t["anode"]
        if t["cell_type"] == "symmetric":
            assert abs(_num(g["nucleation_overpotential_mV"]) - t["nucleation_overpotential_mV"]) <= 1.0
            for r in ("R_SEI_ohm", "R_ct_ohm"):
                assert _num(g[r]) == pytest.approx(t[r], rel=0.03)
                assert 0 < _num(g[r.replace("_ohm", "_stderr_ohm")]) < 0.1 * t[r]
            if math.isnan(t["failure_time_h"]):   # censored: lasted at least the test (150 h)
                assert g["failure_censored"] == "True"
                assert _num(g["failure_time_h"]) == pytest.approx(_num(g["test_duration_h"]))
                assert _num(g["failure_time_h"]) > 149
            else:
                assert g["failure_censored"] == "False"
                assert abs(_num(g["failure_time_h"]) - t["failure_time_h"]) <= 1.0
            assert _num(g["polarization_mV"]) == pytest.approx(t["polarization_mV"], rel=0.05)
            assert g["capacity_retention_pct"] == ""
        elif t["cell_type"] == "half":
            # the half cells (Li | Ag, echem.phases) are in the summary; their own analysis is
            # not wired into the report yet, so there is no number of theirs to hold here
            continue
        else:
            assert abs(_num(g["capacity_retention_pct"]) - t["capacity_retention_pct"]) <= 1.0
            assert _num(g["retention_cycle"]) == t["retention_cycle"]
            assert _num(g["initial_discharge_capacity_mAh_g"]) == pytest.approx(
                t["initial_discharge_capacity_mAh_g"], rel=0.01)
            assert 0.5 < _num(g["mean_coulombic_efficiency"]) <= 1.0
            assert g["R_SEI_ohm"] == ""


def test_outputs_are_all_there(report):
    _, out, _ = report
    for name in ("report.html", "summary.csv", "comparison.csv", "comparison.png", "comparison.svg"):
        assert (out / name).stat().st_size > 0
    for cell in sampledata.truth()["cell_id"]:
        d = out / "cells" / cell
        assert (d / "metrics.csv").exists() and (d / "data.csv").exists()
        assert list(d.glob("*.png")) and len(list(d.glob("*.png"))) == len(list(d.glob("*.svg")))
    sym = out / "cells" / "sym-Li4Ag"
    assert (sym / "impedance_fits.csv").exists() and (sym / "step_table.csv").exists()
    assert (out / "cells" / "full-Li4Ag" / "cycle_table.csv").exists()
    comp = {r["criterion"]: r for r in csv.DictReader(open(out / "comparison.csv"))}
    # the paper's measured order on retention (Figure 5d)
    assert comp["overall_retention"]["measured_order"] == "Li4Ag > Li9Ag4 > Li"
    assert not list(out.parent.glob(".report.*"))  # no staging folder left behind


def test_figures_are_png_images_and_svg_with_their_text_as_text(report):
    # the SVG keeps labels as <text> (editable, searchable), the PNG is a real image
    import xml.etree.ElementTree as ET

    from PIL import Image
    _, out, _ = report
    d = out / "cells" / "sym-Li4Ag"
    texts = {"".join(e.itertext()) for e in ET.parse(d / "impedance.svg").iter()
             if e.tag.endswith("}text")}
    assert {"Z' / Ω", "frequency / Hz"} <= texts
    # a unit with an exponent is one text too (Unicode superscripts, not mathtext pieces)
    texts = {"".join(e.itertext()) for e in ET.parse(out / "cells" / "full-Li4Ag" / "capacity.svg").iter()
             if e.tag.endswith("}text")}
    assert "specific capacity / mAh g⁻¹" in texts
    with Image.open(d / "impedance.png") as im:
        assert im.format == "PNG" and im.size[0] > 1000
    assert not list(out.rglob("*.pdf"))   # PDF only in the paper style


def test_data_csv_holds_the_records_of_the_instrument_file(report):
    # cells/<id>/data.csv is written while the cell is analysed (a background thread in the
    # worker); it must hold every record of the cycling export, as the reader gives them
    import numpy as np
    import pandas as pd

    from echem import read
    _, out, _ = report
    for cell in ("sym-Li_cycling", "full-Li4Ag_cycling"):
        cell_id = cell.replace("_cycling", "")
        got = pd.read_csv(out / "cells" / cell_id / "data.csv")
        src = read(SAMPLE / f"{cell}.csv").data
        assert len(got) == len(src) > 1000
        for col in ("time_s", "voltage_V", "current_mA", "capacity_mAh"):
            np.testing.assert_allclose(got[col].to_numpy(), src[col].to_numpy(), rtol=1e-12, atol=0)
        assert (got["step_type"].to_numpy() == src["step_type"].astype(str).to_numpy()).all()


def test_in_one_process_the_same_report_with_every_data_csv_whole(report, tmp_path):
    # --jobs 1: each cell's data.csv is still being written while the next cell is analysed
    # (and the last one's during the cross-reference); the report waits for all of them
    import numpy as np
    import pandas as pd

    from echem import read
    _, out, _ = report
    one = tmp_path / "one"
    assert main(["report", str(SAMPLE), "-o", str(one), "--db", str(tmp_path / "r.sqlite"),
                 "--quiet", "--jobs", "1"]) == 0
    assert _rows(one / "summary.csv") == _rows(out / "summary.csv")
    for cell_id in sampledata.truth()["cell_id"]:
        got = pd.read_csv(one / "cells" / cell_id / "data.csv")
        src = read(SAMPLE / f"{cell_id}_cycling.csv").data
        assert len(got) == len(src)
        np.testing.assert_allclose(got["voltage_V"].to_numpy(), src["voltage_V"].to_numpy(),
                                   rtol=1e-12, atol=0)


def test_second_run_leaves_the_database_unchanged(report, tmp_path):
    _, _, db = report

    def counts():
        con = sqlite3.connect(db)
        c = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
             for t in ("experiments", "cells", "files", "results")}
        con.close()
        return c

    before = counts()
    assert before["cells"] == 9 and before["results"] > 30
    assert main(["report", str(SAMPLE), "-o", str(tmp_path / "again"), "--db", str(db),
                 "--quiet", "--jobs", "2"]) == 0
    assert counts() == before


def test_a_corrupt_file_is_reported_and_the_others_go_on(tmp_path, capsys):
    folder = tmp_path / "data"
    shutil.copytree(SAMPLE, folder)
    bad = folder / "sym-Li_PEIS_C03.mpt"
    bad.write_bytes(bad.read_bytes()[:1500])  # cut inside the header
    code = main(["report", str(folder), "-o", str(tmp_path / "out"), "--db",
                 str(tmp_path / "r.sqlite"), "--quiet", "--jobs", "2"])
    assert code == 1
    assert "sym-Li_PEIS_C03.mpt" in capsys.readouterr().err
    page = (tmp_path / "out" / "report.html").read_text()
    assert re.search(r"unreadable file: .*sym-Li_PEIS_C03\.mpt", page)
    rows = _rows(tmp_path / "out" / "summary.csv")
    assert rows["sym-Li"]["R_SEI_ohm"] == ""                  # the corrupt file's metric is absent
    assert _num(rows["sym-Li"]["failure_time_h"]) == pytest.approx(24.6, abs=1)  # the rest is there
    assert _num(rows["sym-Li4Ag"]["R_SEI_ohm"]) == pytest.approx(12.10, rel=0.03)


def test_a_cells_files_are_read_together_and_recorded_in_the_manifests_order(tmp_path):
    # batch.process_cell reads a cell's files in threads; what it records keeps the manifest's
    # order, and an unreadable file is reported on the cell while the others are analysed
    import dataclasses
    import hashlib

    from echem import batch, manifest
    exp = manifest.load_manifest(SAMPLE)
    cell = exp.cell("sym-Li4Ag")
    bad = tmp_path / "cut.mpt"
    bad.write_bytes((SAMPLE / "sym-Li_PEIS_C03.mpt").read_bytes()[:1500])
    files = (cell.files[0], bad, cell.files[1])  # cycling (largest), corrupt, impedance
    assert files[0].stat().st_size > files[2].stat().st_size
    res = batch.process_cell(batch.CellTask(dataclasses.replace(cell, files=files), exp.protocol_for(cell)))
    assert [Path(r.path) for r in res.files] == [files[0], files[2]]
    for r in res.files:
        assert r.sha256 == hashlib.sha256(Path(r.path).read_bytes()).hexdigest()
        assert r.size_bytes == Path(r.path).stat().st_size
    assert res.info["unreadable"] == [str(bad)]
    assert [w for w in res.warnings if w.startswith("unreadable file:") and "cut.mpt" in w]
    assert {f.name for f in res.figures} == {"impedance", "drt", "voltage_time", "polarization"}
    assert res.value("R_SEI_ohm") == pytest.approx(12.10, rel=0.03)   # sample data truth


def test_an_existing_folder_of_the_user_is_never_replaced(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(SAMPLE / "sym-Li4Ag_PEIS_C01.mpt", folder)
    assert main(["report", str(folder), "-o", str(out), "--db", str(tmp_path / "r.sqlite"),
                 "--quiet", "--jobs", "1"]) == 1
    assert (out / "thesis.tex").read_text() == "precious"


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    return None


CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-images', imgs.length);
  document.body.setAttribute('data-rendered', imgs.filter(i => i.complete && i.naturalWidth > 0).length);
});
</script></body>"""


def test_escaped_and_rendered_in_a_real_browser(tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("sym-Li4Ag_cycling.csv", "sym-Li4Ag_PEIS_C01.mpt"):
        shutil.copy(SAMPLE / name, folder)
    evil = "<script>alert(1)</script>"
    (folder / "experiment.toml").write_text(f"""
[experiment]
title = "escaping {evil}"
[[cell]]
id = "{evil}"
type = "symmetric"
anode = "Li4Ag"
area_cm2 = 0.7854
protocol = "symmetric-li-ag"
files = ["sym-Li4Ag_cycling.csv", "sym-Li4Ag_PEIS_C01.mpt"]
""")
    out = tmp_path / "out"
    assert main(["report", str(folder), "-o", str(out), "--db", str(tmp_path / "r.sqlite"),
                 "--quiet", "--jobs", "1"]) == 0
    page = (out / "report.html").read_text()
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    n_img = page.count("<img ")
    assert n_img >= 4

    # a copy with a checking script appended; the report itself holds no script
    probe = out / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([browser, *flags, "--virtual-time-budget=5000", "--dump-dom",
                          probe.as_uri()], capture_output=True, text=True, timeout=120)
    assert f'data-images="{n_img}"' in dom.stdout
    assert f'data-rendered="{n_img}"' in dom.stdout, "some figure did not render"
    shot = tmp_path / "shot.png"
    run = subprocess.run([browser, *flags, "--hide-scrollbars", "--window-size=1280,3000",
                          f"--screenshot={shot}", (out / "report.html").as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 20000
    console = [ln for ln in (dom.stderr + run.stderr).splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    assert "alert(1)" in dom.stdout  # shown as text ...
    assert "<script>alert(1)" not in dom.stdout.replace(CHECK_SCRIPT, "")  # ... never as a script


def test_without_a_manifest_cells_are_inferred_and_the_report_says_so(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("full-Li4Ag_cycling.csv", "sym-Li9Ag4_PEIS_C02.mpt"):
        shutil.copy(SAMPLE / name, folder)
    out = tmp_path / "out"
    assert main(["report", str(folder), "-o", str(out), "--db", str(tmp_path / "r.sqlite"),
                 "--quiet", "--jobs", "1"]) == 0
    rows = _rows(out / "summary.csv")
    assert set(rows) == {"full-Li4Ag_cycling", "sym-Li9Ag4_PEIS_C02"}
    assert rows["full-Li4Ag_cycling"]["cell_type"] == "full"   # median voltage above 2 V
    # the impedance is fitted with the default circuit even without a protocol
    assert _num(rows["sym-Li9Ag4_PEIS_C02"]["R_SEI_ohm"]) == pytest.approx(25.20, rel=0.03)
    # retention of the last cycle against cycle 1, as no protocol names a cycle: 72.1 % at 50
    assert _num(rows["full-Li4Ag_cycling"]["retention_cycle"]) == 50
    assert abs(_num(rows["full-Li4Ag_cycling"]["capacity_retention_pct"]) - 72.1) <= 1.0
    page = (out / "report.html").read_text()
    assert "no experiment.toml. One cell per run; their types, areas and masses are guesses" in page
    assert "echem init" in page


def test_a_listed_but_missing_file_is_reported_like_an_unreadable_one(tmp_path, capsys):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(SAMPLE / "sym-Li4Ag_PEIS_C01.mpt", folder)
    (folder / "experiment.toml").write_text("""
[experiment]
title = "one file missing"
[[cell]]
id = "c1"
type = "symmetric"
anode = "Li4Ag"
area_cm2 = 0.7854
protocol = "symmetric-li-ag"
files = ["sym-Li4Ag_PEIS_C01.mpt", "gone.csv"]
""")
    code = main(["report", str(folder), "-o", str(tmp_path / "out"), "--db",
                 str(tmp_path / "r.sqlite"), "--quiet", "--jobs", "1"])
    assert code == 1
    assert "gone.csv" in capsys.readouterr().err
    row = _rows(tmp_path / "out" / "summary.csv")["c1"]
    assert _num(row["R_SEI_ohm"]) == pytest.approx(12.10, rel=0.03)  # the present file is analysed


LAYOUT_SCRIPT = """<script>
window.addEventListener('load', () => {
  const wide = [...document.querySelectorAll('body *')].filter(e => e.scrollWidth > e.clientWidth + 1
      && getComputedStyle(e).overflowX !== 'visible' || e.getBoundingClientRect().right > window.innerWidth + 1);
  const toc = [...document.querySelectorAll('nav.toc a')].map(a => a.getAttribute('href'));
  const figs = [...document.querySelectorAll('figure')];
  const linked = figs.filter(f => f.querySelector('a > img') && /\\.svg$/.test(f.querySelector('a').getAttribute('href')));
  const headers = [...document.querySelectorAll('th')].map(t => t.textContent);
  const out = {wide: wide.map(e => e.tagName + '.' + e.className).slice(0, 5),
               pageWidth: document.documentElement.scrollWidth, toc: toc,
               figures: figs.length, linked: linked.length, headers: headers,
               text: document.body.innerText};
  const pre = document.createElement('pre'); pre.id = 'probe'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script></body>"""


def test_the_sample_report_reads_like_the_paper_in_a_real_browser(report, tmp_path):
    import json
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on this machine (.ci/run installs Debian's chromium)")
    code, out, _ = report
    page = (out / "report.html").read_text()
    probe = out / "layout-probe.html"
    probe.write_text(page.replace("</body>", LAYOUT_SCRIPT))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900"]
    try:
        dom = subprocess.run([browser, *flags, "--virtual-time-budget=8000", "--dump-dom",
                              probe.as_uri()], capture_output=True, text=True, timeout=180)
    finally:
        probe.unlink()
    raw = re.search(r"<pre id=\"probe\">(.*?)</pre>", dom.stdout, re.S).group(1)
    got = json.loads(html.unescape(raw))
    # nothing scrolls sideways at 1400 px
    assert got["wide"] == [] and got["pageWidth"] <= 1400, got["wide"]
    # a table of contents that links every cell
    for cell in sampledata.truth()["cell_id"]:
        assert f"#cell-{cell}" in got["toc"], cell
    # every figure opens at full size (its thumbnail links to its SVG, which exists)
    assert got["figures"] == got["linked"] > 10
    for href in re.findall(r"<figure[^>]*><a href='([^']+)'>", page):
        assert (out / html.unescape(href)).is_file(), href
    # the overview figures of the paper's Figure 5: symmetric and full cells overlaid
    for name in ("overview_a_nucleation", "overview_b_nyquist", "overview_c_voltage",
                 "overview_d_cycling"):
        assert f"{name}.svg" in page
    # headers are words with units, not identifiers
    assert not [h for h in got["headers"] if re.search(r"_(mV|ohm|pct|mAh|h|s|V)\b|_[a-z]+_", h)]
    assert "Nucleation overpotential (mV)" in got["headers"]
    # values rounded to their uncertainty, and the paper's numbers recovered
    text = got["text"]
    assert "12.10 ± 0.04" in text and "0.04005" not in text          # R_SEI of Li4Ag (Table S7)
    assert "> 150 h (no failure in the test)" in text                 # censored, as a bound
    for value in ("72.1", "58.8", "10.8", "5.9", "24.64"):            # Figure 5a, c, d
        assert value in text
    # the half cells: their phases named against DFT
    assert "Alloy phases of the half cells" in text and "Li9Ag4" in text


def test_paper_figures_are_a_journal_column_wide_with_8_pt_type_and_pdf_fonts_embedded(tmp_path):
    # --figure-style paper: every figure 3.5 in wide (7 in for panels side by side) at 300 dpi,
    # its texts 5.5-9 pt in the SVG, and a PDF of that size whose fonts are embedded TrueType
    # (Type 42, as journals ask), not Type 3
    import xml.etree.ElementTree as ET

    from PIL import Image

    from conftest import sample_cell
    folder = sample_cell(tmp_path / "in", ["sym-Li", "sym-Li4Ag", "full-Li", "full-Li4Ag"])
    out = tmp_path / "out"
    assert main(["report", str(folder), "-o", str(out), "--db", str(tmp_path / "r.sqlite"),
                 "--figure-style", "paper", "--quiet"]) == 0
    d = out / "cells" / "sym-Li"
    assert sorted(p.stem for p in d.glob("*.png")) == ["drt", "impedance", "polarization",
                                                        "voltage_time"]
    figures = sorted(out.rglob("*.png"))
    assert {p.stem for p in figures} >= {"profiles", "capacity", "overview_a_nucleation",
                                        "overview_b_nyquist", "overview_d_cycling", "comparison"}
    for png in figures:
        name = png.with_suffix("")
        with Image.open(png) as im:
            assert im.size[0] in (3.5 * 300, 7 * 300), (name, im.size)
            height_in = im.size[1] / 300
        sizes = {float(m) for e in ET.parse(f"{name}.svg").iter() if e.tag.endswith("}text")
                 for m in re.findall(r"font-size: ([\d.]+)px", e.get("style", ""))}
        assert sizes and min(sizes) >= 5.5 and max(sizes) <= 9, (name, sizes)
        pdf = Path(f"{name}.pdf").read_bytes()
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
        (box,) = re.findall(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf)
        assert float(box[0]) / 72 == pytest.approx(im.size[0] / 300)
        assert float(box[1]) / 72 == pytest.approx(height_in, abs=0.01)
        assert b"/FontFile2" in pdf and b"/Type3" not in pdf


def test_the_summary_tables_show_the_metrics_declared_for_the_report(report):
    # metrics.in_report: the symmetric cells' table has the hysteresis (not a summary.csv column)
    # and not the test duration (a summary.csv column, shown in the report as "> 150 h")
    from echem import metrics
    _, out, _ = report
    text = (out / "report.html").read_text()
    start = text.index("<h3>Symmetric cells")
    heads = re.findall(r"<th>(.*?)</th>", text[start:text.index("</thead>", start)])
    assert "Voltage hysteresis (mV; ± SD)" in heads
    assert not [h for h in heads if h.startswith("Test duration")]
    columns = next(csv.reader(open(out / "summary.csv")))
    assert "test_duration_h" in columns and "hysteresis_mV" not in columns
    shown = {s.label for s in metrics.REGISTRY.values() if s.in_report and "symmetric" in s.cell_types}
    assert {h.split(" (")[0] for h in heads[2:]} <= shown
