"""Write scikit-learn's embedded wine set as a CSV with string labels, for configs/table_wine.yaml.

Usage: python examples/table/write_wine_csv.py [PATH]   (default: examples/table/wine.csv)
"""

from __future__ import annotations

import sys
from pathlib import Path

from sklearn.datasets import load_wine


def write(path: Path) -> Path:
    """178 rows: 13 numeric features and a `cultivar` column of names (not numbers)."""
    bunch = load_wine(as_frame=True)
    frame = bunch.frame.drop(columns="target")
    frame["cultivar"] = [("barolo", "grignolino", "barbera")[i] for i in bunch.target]
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


if __name__ == "__main__":
    print(f"wrote {write(Path(sys.argv[1] if len(sys.argv) > 1 else 'examples/table/wine.csv'))}")
