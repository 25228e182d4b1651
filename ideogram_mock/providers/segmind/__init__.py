"""Segmind's serverless API: the v1 synchronous call, the v2 queue and the credit balance."""

from __future__ import annotations

from ideogram_mock.providers.base import Provider

SEGMIND = Provider(
    name="segmind",
    spec="segmind.yaml",
    hosts=("https://api.segmind.com",),
    dialect="ideogram_mock.providers.segmind.dialect:SegmindDialect",
    api="ideogram_mock.providers.segmind.api:SegmindApi",
    entry="/v1/ideogram-character",
    key_header=("x-api-key", "{key}"),
)
