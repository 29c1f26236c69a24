"""The per-cell analysis: a cell's measurements and protocol in, a :class:`~echem.results.CellResult`
out (``echem.analysis.cell``); and what is computed across the cells of an experiment
(``echem.analysis.experiment``: the cross-reference with the DFT ranking). Pure: no file access,
no figures, picklable in and out."""
