"""Scenario's API: uploaded assets, a generate call that answers with a job, job polling and
cancelling, and output assets."""

from __future__ import annotations

from ideogram_mock.providers.base import Provider

SCENARIO = Provider(
    name="scenario",
    spec="scenario.yaml",
    hosts=("https://api.cloud.scenario.com",),
    dialect="ideogram_mock.providers.scenario.dialect:ScenarioDialect",
    api="ideogram_mock.providers.scenario.api:ScenarioApi",
    entry="/v1/generate/custom/model_ideogram-character",
    key_header=("Authorization", "Basic {basic}"),
)
