"""`security.attacks_refused`: every attack test (pytest marker `attack`: a stranger's attack on
a mesh of real processes, asserting that no harm was done) is run, and the figure is how many
of them passed against how many exist. Anything below all of them is a failure of the mesh's
trust, not noise, so the target is the whole count."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from bench.results import Figure

ROOT = Path(__file__).resolve().parent.parent


def run_attacks(junit: Path) -> tuple[int, int]:
    """(passed, collected) for `pytest -m attack` over the whole tree."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-m",
            "attack",
            f"--junitxml={junit}",
            "services",
            "sdk",
            "operator",
            "e2e",
        ],
        cwd=ROOT,
        check=False,
        timeout=3600,
    )
    return tally(junit.read_text())


def tally(junit_xml: str) -> tuple[int, int]:
    """(passed, collected) from a JUnit report: skipped tests count as not passed (an attack
    that did not run proves nothing)."""
    root = ET.fromstring(junit_xml)
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    bad = sum(int(s.get(k, 0)) for s in suites for k in ("failures", "errors", "skipped"))
    return total - bad, total


def measure() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="stratos-attacks-") as tmp:
        passed, total = run_attacks(Path(tmp) / "attacks.xml")
    print(f"attack tests: {passed} of {total} did no harm")
    return [Figure.against("security.attacks_refused", passed, "tests", total, "ratio == 1")]
