#!/usr/bin/env python3
"""Write sample_data/: the paper's cells as Neware BTSDA CSV and EC-Lab .mpt exports, with an
experiment.toml. Fixed seed: rerunning gives the same bytes. See echem/sampledata.py.

    python scripts/make_sample_data.py [OUT] [--seed N]
"""
import sys

from echem.sampledata import main

if __name__ == "__main__":
    sys.exit(main())
