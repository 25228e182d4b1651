"""A stateful fake of the kie.ai jobs API for the Ideogram Character models."""

from __future__ import annotations

__version__ = "0.1.0"
