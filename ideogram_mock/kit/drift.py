"""`ideogram-mock drift`: run the kit against an endpoint and report how it differs from the
spec, for people (Markdown) and for CI (JUnit XML). Exit 1 on breaking drift or a failing check,
0 (with warnings) when the differences are only additive."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from ideogram_mock.kit.findings import ADDITIVE, BREAKING, Finding, Findings
from ideogram_mock.providers import PROVIDERS


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(
    findings: list[Finding],
    target: str,
    tests: dict[str, int],
    failed: Sequence[str] = (),
    spec: str = "kie-jobs.yaml",
    notes: Sequence[str] = (),
) -> str:
    breaking = [f for f in findings if f.severity == BREAKING]
    additive = [f for f in findings if f.severity == ADDITIVE]
    if breaking:
        verdict = "BREAKING drift"
    elif failed:
        verdict = "kit tests FAILED"  # the exit code is 1 either way: the verdict says why
    else:
        verdict = "additive drift only" if additive else "no drift"
    lines = [
        f"# Drift report: {target}",
        "",
        f"**{verdict}**: {len(breaking)} breaking, {len(additive)} additive difference(s) from "
        f"`openapi/{spec}`.",
        "",
        "Kit run: " + (", ".join(f"{n} {k}" for k, n in tests.items() if n) or "no tests") + ".",
        "",
    ]
    if notes:
        lines += ["## What the run saw", ""] + [f"- {note}" for note in notes] + [""]
    causes = Counter((f.severity, f.category) for f in findings)
    if causes:
        lines += [
            "## By cause",
            "",
            "| severity | kind | count | first seen at |",
            "|---|---|---|---|",
        ]
        for (severity, category), count in sorted(causes.items()):
            first = min((f for f in findings if (f.severity, f.category) == (severity, category)),
                        key=lambda f: f.where)  # fmt: skip
            lines.append(f"| {severity} | {category} | {count} | `{_cell(first.where)}` |")
        lines.append("")
    if failed:
        lines += ["## Failed kit tests", ""]
        lines += [f"- `{name}`" for name in failed]
        lines.append("")
    for title, group in (("Breaking", breaking), ("Additive", additive)):
        if not group:
            continue
        lines += [
            f"## {title}",
            "",
            "| kind | where | what | request that showed it |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {f.category} | `{_cell(f.where)}` | {_cell(f.message)} | `{_cell(f.request)}` |"
            for f in sorted(group, key=lambda f: (f.category, f.where))
        ]
        lines.append("")
    return "\n".join(lines)


def junit(findings: list[Finding], pytest_xml: Path | None) -> ET.ElementTree[ET.Element]:
    """pytest's own JUnit results, plus a `drift` suite with a case per finding (breaking ones
    fail; additive ones pass with the difference in system-out)."""
    root = ET.Element("testsuites")
    if pytest_xml is not None and pytest_xml.exists():
        parsed = ET.parse(pytest_xml).getroot()
        suites = [parsed] if parsed.tag == "testsuite" else list(parsed)
        for suite in suites:
            suite.set("name", "contract kit")
            root.append(suite)
    drift = ET.SubElement(root, "testsuite", name="drift", tests=str(len(findings)))
    failures = 0
    for finding in findings:
        case = ET.SubElement(
            drift, "testcase", classname=f"drift.{finding.category}", name=finding.where
        )
        text = f"{finding.message}\nrequest: {finding.request}"
        if finding.severity == BREAKING:
            failures += 1
            failure = ET.SubElement(case, "failure", message=finding.message, type="breaking")
            failure.text = text
        else:
            ET.SubElement(case, "system-out").text = f"additive: {text}"
    drift.set("failures", str(failures))
    return ET.ElementTree(root)


def _outcomes(pytest_xml: Path) -> tuple[dict[str, int], list[str]]:
    """Test counts by outcome, and the failed tests' names (with the first line of why)."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    failed: list[str] = []
    if not pytest_xml.exists():
        return counts, failed
    for case in ET.parse(pytest_xml).getroot().iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            counts["failed"] += 1
            why = (
                (problem.get("message") or "").splitlines()[0][:160]
                if problem.get("message")
                else ""
            )
            failed.append(
                f"{case.get('classname')}::{case.get('name')}" + (f" — {why}" if why else "")
            )
        elif case.find("skipped") is not None:
            counts["skipped"] += 1
        else:
            counts["passed"] += 1
    return counts, failed


def run(
    url: str | None,
    api_key: str | None,
    out: Path,
    live: bool = False,
    extra_env: dict[str, str] | None = None,
    pytest_args: Sequence[str] = (),
    provider: str = "kie",
) -> int:
    """Run a provider's kit, write `out`/drift.md and `out`/drift.xml, return the exit code."""
    package = kit_package(provider)
    if live and not (url and api_key):
        p = provider.upper()
        raise SystemExit(
            f"ideogram-mock drift --live needs the real endpoint and a key: --url and --api-key "
            f"(make drift LIVE=1 reads {p}_BASE_URL and {p}_API_KEY); nothing was run"
        )
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        findings_path = Path(scratch) / "findings.json"
        pytest_xml = Path(scratch) / "pytest.xml"
        env = {**os.environ, **(extra_env or {}), "KIT_FINDINGS": str(findings_path)}
        if live:
            env["KIT_TARGET"] = "live"
            if url:
                env[f"{provider.upper()}_BASE_URL"] = url
            if api_key:
                env[f"{provider.upper()}_API_KEY"] = api_key
        elif url:
            env["CONTRACT_URL"] = url
            if api_key:
                env["CONTRACT_API_KEY"] = api_key
        command = [
            sys.executable, "-m", "pytest", "--pyargs", package,
            "-p", "no:cacheprovider", "-q", f"--junitxml={pytest_xml}", *pytest_args,
        ]  # fmt: skip
        result = subprocess.run(command, env=env, check=False)
        findings = Findings.load(findings_path.read_text()) if findings_path.exists() else []
        notes_path = Path(f"{findings_path}.notes")
        notes = json.loads(notes_path.read_text()) if notes_path.exists() else []
        tests, failed = _outcomes(pytest_xml)
        target = url or "the fake, in-process"
        spec = PROVIDERS[provider].spec
        (out / "drift.md").write_text(markdown(findings, target, tests, failed, spec, notes))
        junit(findings, pytest_xml).write(
            out / "drift.xml", encoding="unicode", xml_declaration=True
        )
    breaking = [f for f in findings if f.severity == BREAKING]
    additive = [f for f in findings if f.severity == ADDITIVE]
    print(f"drift: {len(breaking)} breaking, {len(additive)} additive; report in {out}/drift.md")
    for finding in additive:
        print(f"warning: additive drift at {finding.where}: {finding.message}", file=sys.stderr)
    if breaking or result.returncode not in (0, 5):
        return 1
    return 0


def kit_package(provider: str) -> str:
    """The test package of a provider's kit; a clear error when the kit or provider is not
    there (the kit's dependencies come with the `ideogram-mock[kit]` extra)."""
    if importlib.util.find_spec("schemathesis") is None:
        raise SystemExit(
            "ideogram-mock: the contract kit needs its extra: pip install 'ideogram-mock[kit]'"
        )
    kits = [p for p in PROVIDERS if importlib.util.find_spec(f"ideogram_mock.kit.{p}")]
    if provider not in kits:
        raise SystemExit(
            f"ideogram-mock: no contract kit for provider {provider!r}; kits: {', '.join(kits)}"
        )
    return f"ideogram_mock.kit.{provider}"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "drift",
        help="run the contract kit against an endpoint and report drift from the spec",
        description=__doc__,
    )
    p.add_argument("--provider", default="kie", help="whose API the endpoint speaks (default kie)")
    p.add_argument("--url", help="the endpoint (default: the fake in-process)")
    p.add_argument("--api-key", dest="api_key", help="its API key")
    p.add_argument("--live", action="store_true", help="the real service: budget guard, throttling")
    p.add_argument("--out", type=Path, default=Path("reports"), help="where to write the report")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")


def main(args: argparse.Namespace) -> int:
    return run(
        args.url,
        args.api_key,
        args.out,
        live=args.live,
        pytest_args=args.pytest_args,
        provider=args.provider,
    )
