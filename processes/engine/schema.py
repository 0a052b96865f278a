"""The BPMN 2.0 XML Schema that SpiffWorkflow ships, for tools and tests that validate models."""

from __future__ import annotations

from pathlib import Path

import SpiffWorkflow

BPMN_XSD_PATH: Path = Path(SpiffWorkflow.__file__).parent / "bpmn" / "parser" / "schema" / "BPMN20.xsd"
