"""``audit --html``: the evidence an auditor files, read as a person would, in Debian's chromium."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from airflow_webflow_audit.audit.cli import main
from airflow_webflow_audit.landing.layout import MANIFEST_SUFFIX
from airflow_webflow_audit.signing import ManifestSigner, generate_private_key_pem, public_key_pem
from tests.browser import chromium, day_statuses
from tests.conftest import DAY0
from tests.landing_helpers import make_operator, run_window

pytestmark = pytest.mark.integration

WORKSPACE = "hitchhikers-workspace"
DAYS = [(DAY0 + timedelta(days=n), DAY0 + timedelta(days=n + 1)) for n in range(3)]


@pytest.fixture
def tampered(simulator, clock, tmp_path, monkeypatch) -> dict:
    """Three days landed and signed; the second day's manifest then rewritten (its signature no longer holds)."""
    simulator()
    pem = generate_private_key_pem()
    monkeypatch.setenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING", json.dumps({"conn_type": "generic", "password": pem}))
    destination = f"file://{tmp_path}/landing"
    landed = [run_window(make_operator(clock, destination=destination), *day)[0] for day in DAYS]
    monkeypatch.delenv("AIRFLOW_CONN_WEBFLOW_AUDIT_SIGNING")
    manifest_path = Path(landed[1]["manifest_uri"].removeprefix("file://"))
    manifest = json.loads(manifest_path.read_bytes())
    manifest["pulled_at"] = "2026-10-03T00:00:01+00:00"
    manifest_path.write_text(json.dumps(manifest))
    public = tmp_path / "signing.pub.pem"
    public.write_text(public_key_pem(ManifestSigner.from_pem(pem, source="t").public_key()))
    return {"destination": destination, "public": str(public), "html": tmp_path / "evidence.html"}


def the_range(archive: dict) -> list[str]:
    start, end = DAYS[0][0].isoformat(), DAYS[-1][1].isoformat()
    return [archive["destination"], "--workspace", WORKSPACE, "--start", start, "--end", end]


def test_the_html_report_and_the_json_report_agree_and_a_browser_reads_the_tampered_day(tampered, capsys):
    capsys.readouterr()
    code = main([*the_range(tampered), "--public-key", tampered["public"], "--json", "--html", str(tampered["html"])])
    report = json.loads(capsys.readouterr().out)  # --json and --html together: stdout is still the JSON alone
    assert code == report["exit_code"] == 1
    assert [p["kind"] for p in report["problems"]] == ["bad_signature"]
    with chromium() as browser:
        browser.get(tampered["html"].as_uri())
        cells = day_statuses(browser)
        verdict = browser.find_element("id", "verdict")
        assert (verdict.get_attribute("data-verdict"), verdict.get_attribute("data-exit-code")) == ("incomplete", "1")
        tampered_day = browser.find_element("css selector", "[data-day='2026-10-02']").get_attribute("title")
    assert {day: cells[day] for day in ("2026-10-01", "2026-10-02", "2026-10-03")} == {
        "2026-10-01": "ok",
        "2026-10-02": "problem",
        "2026-10-03": "ok",
    }
    assert {status for day, status in cells.items() if day > "2026-10-03"} == {"outside"}
    assert len(cells) == 31
    assert "bad_signature" in tampered_day
    html = tampered["html"].read_text()
    assert tampered["public"] in html  # the command that made it
    assert report["keys"][0]["fingerprint"] in html
    assert MANIFEST_SUFFIX not in json.dumps(report["windows"])  # keys are the data objects' keys


def test_an_html_file_that_cannot_be_written_is_could_not_audit(tampered, capsys):
    code = main([*the_range(tampered), "--html", str(tampered["html"].parent / "no-such-folder" / "evidence.html")])
    assert code == 3
    assert "could not write the HTML report" in capsys.readouterr().err


def test_under_strict_with_no_key_no_day_is_ok(simulator, clock, tmp_path, capsys):
    """--strict counts warnings as problems: with no key, "signatures not checked" holds for every window, so
    the verdict is incomplete and no day cell may say ok (a script reading the cells would pass the archive)."""
    simulator()
    destination = f"file://{tmp_path}/landing"
    for day in DAYS:
        run_window(make_operator(clock, destination=destination), *day)
    start, end = DAYS[0][0].isoformat(), DAYS[-1][1].isoformat()
    args = [destination, "--workspace", WORKSPACE, "--start", start, "--end", end, "--json"]
    for strict, expected in ((False, "warning"), (True, "problem")):
        capsys.readouterr()
        code = main([*args, *(["--strict"] if strict else []), "--html", str(tmp_path / "evidence.html")])
        report = json.loads(capsys.readouterr().out)
        assert (code, report["verdict"]) == ((1, "incomplete") if strict else (0, "complete"))
        html = (tmp_path / "evidence.html").read_text()
        cells = {day: html.split(f"data-day='{day}'", 1)[1][:80] for day in ("2026-10-01", "2026-10-02", "2026-10-03")}
        assert all(f"data-status='{expected}'" in cell for cell in cells.values()), cells
