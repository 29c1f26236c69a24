"""The HTML report presents what it is given, escaped, with figures embedded."""
import base64
import re

import pandas as pd

from echem.report import ReportData, render
from echem.results import CellResult, Figure, Metric

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")


def test_text_from_files_is_escaped_and_figures_embedded():
    evil = "<script>alert(1)</script>"
    cell = CellResult(evil, "symmetric", "Li4Ag", f"p{evil}",
                      metrics=[Metric("R_SEI_ohm", 12.1, "ohm", 0.3)],
                      figures=[Figure("nyq", f"Nyquist {evil}", PNG_1PX, "<svg/>")],
                      warnings=[f"deviation {evil}"])
    page = render(ReportData(title=f"Report {evil}", cells=[cell], experiment={"name": evil},
                             comparison=pd.DataFrame({"criterion": [evil]})))
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    imgs = re.findall(r"<img [^>]*src='([^']*)'", page)
    assert len(imgs) == 1 and imgs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(imgs[0].split(",", 1)[1]) == PNG_1PX
    # self-contained: no external resource is referenced
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert "12.1" in page and "0.3" in page
