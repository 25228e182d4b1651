"""`python -m ideogram_mock` is `ideogram-mock`."""

from __future__ import annotations

import sys

from ideogram_mock.server.cli import main

sys.exit(main())
