"""kie.ai's jobs API (and its mirror api.apikley.ru): the first dialect."""

from __future__ import annotations

from ideogram_mock.providers.base import Provider

KIE = Provider(
    name="kie",
    spec="kie-jobs.yaml",
    hosts=("https://api.kie.ai", "https://api.apikley.ru"),
    dialect="ideogram_mock.providers.kie.dialect:KieDialect",
    api="ideogram_mock.providers.kie.api:KieApi",
    entry="/api/v1/jobs/createTask",
)
