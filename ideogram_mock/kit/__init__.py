"""The contract kit: one suite that checks the fake, a proxy or the real kie.ai endpoint
against `openapi/kie-jobs.yaml`, and a drift report of what differs."""

from __future__ import annotations
