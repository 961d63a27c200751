"""Sigma rules (written here in Sigma's format) load from a directory with pySigma and fire in Spark;
rules that cannot compile are reported and skipped, never failing the run."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from analytics import sigma
from config.settings import SecuritySettings
from tests.analytics_day import findings as security_findings

T0 = datetime(2026, 5, 1, 10, 0, 0, tzinfo=UTC)

RULES = {
    "sqli.yml": """
title: SQL keywords in the query
id: 0f3c0a1e-1111-4000-8000-000000000001
status: test
level: high
tags: [attack.initial-access, attack.t1190]
logsource: {category: webserver}
detection:
  keywords:
    cs-uri-query|contains|all: ['union', 'select']
  condition: keywords
""",
    "php_and_ua.yml": """
title: PHP upload answered 200 or a scripted agent
id: 0f3c0a1e-1111-4000-8000-000000000002
status: test
level: informational
tags: [attack.persistence]
logsource: {category: webserver}
detection:
  sel_upload:
    cs-uri-stem|endswith: '/upload.php'
    cs-method: POST
    sc-status: 200
  sel_agent:
    cs-user-agent|re: '^Go-http-client/\\d'
  sel_referer:
    cs-referer|startswith: 'http://evil.'
  filter_lab:
    c-ip|startswith: '10.8.9.'
  condition: 1 of sel_* and not filter_lab
""",
    "all_of.yml": """
title: Admin export with a token
id: 0f3c0a1e-1111-4000-8000-000000000003
status: test
level: critical
logsource: {category: webserver}
detection:
  sel_path:
    cs-uri-stem|contains: '/admin/export'
  sel_token:
    cs-uri-query|contains: 'token='
  condition: all of sel_*
""",
    "keyword.yml": """
title: Keyword anywhere in the request
id: 0f3c0a1e-1111-4000-8000-000000000004
status: test
level: medium
logsource: {category: webserver}
detection:
  keywords:
    - 'xp_cmdshell'
  condition: keywords
""",
    "broken.yml": """
title: Unknown field
id: 0f3c0a1e-1111-4000-8000-000000000005
level: high
logsource: {category: webserver}
detection:
  sel:
    cs-cookie|contains: 'session'
  condition: sel
---
title: Not even a condition
id: 0f3c0a1e-1111-4000-8000-000000000006
logsource: {category: webserver}
detection:
  sel:
    cs-uri-stem: '/x'
""",
    "process.yml": """
title: 'A process-creation rule (not webserver): ignored'
id: 0f3c0a1e-1111-4000-8000-000000000007
logsource: {category: process_creation, product: windows}
detection:
  sel:
    Image|endswith: '\\\\cmd.exe'
  condition: sel
""",
    "bad_yaml.yml": "title: [unclosed\n",
}


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sigma")
    for name, text in RULES.items():
        (root / name).write_text(text.lstrip(), encoding="utf-8")
    return root


def test_load_compiles_web_rules_and_reports_the_rest(spark: Any, rules_dir: Path) -> None:
    load = sigma.load_rules(rules_dir)
    assert sorted(r.rule_id[-1] for r in load.rules) == ["1", "2", "3", "4"]
    joined = "\n".join(load.errors)
    assert "cs-cookie" in joined and "bad_yaml.yml" in joined and "Not even a condition" in joined
    assert len(load.errors) == 3
    assert sigma.load_rules(rules_dir / "missing").errors[0].endswith("is not a directory")


@pytest.fixture(scope="module")
def found(frames: Any, rules_dir: Path) -> dict[str, Any]:
    def at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    rows = [
        {"client_ip": "10.8.0.1", "requested_at": at(1), "path": "/item", "query": "id=1 UNION ALL SELECT 1"},
        {"client_ip": "10.8.0.2", "requested_at": at(2), "path": "/item", "query": "id=union"},  # not all
        {"client_ip": "10.8.0.3", "requested_at": at(3), "method": "POST", "path": "/files/upload.php"},
        {"client_ip": "10.8.0.4", "requested_at": at(4), "method": "POST", "path": "/files/upload.php",
         "status": 403},  # status differs
        {"client_ip": "10.8.0.5", "requested_at": at(5), "user_agent": "Go-http-client/1.1"},
        {"client_ip": "10.8.9.5", "requested_at": at(5), "user_agent": "Go-http-client/1.1"},  # filtered
        {"client_ip": "10.8.0.6", "requested_at": at(6), "referer": "HTTP://EVIL.example/"},  # case-insensitive
        {"client_ip": "10.8.0.7", "requested_at": at(7), "path": "/admin/export", "query": "token=abc"},
        {"client_ip": "10.8.0.8", "requested_at": at(8), "path": "/admin/export"},  # one of two
        {"client_ip": "10.8.0.9", "requested_at": at(9), "path": "/q", "query": "x=exec%20xp_cmdshell"},
    ]
    settings = SecuritySettings(sigma_rules_dir=rules_dir)
    out = security_findings(frames.requests(rows), frames.events([]), settings).where("category = 'sigma'")
    return {r.client_ip: r for r in out.collect()}


def test_rules_fire_with_title_id_level_and_tags(found: dict[str, Any]) -> None:
    assert set(found) == {"10.8.0.1", "10.8.0.3", "10.8.0.5", "10.8.0.6", "10.8.0.7", "10.8.0.9"}
    sqli = found["10.8.0.1"]
    assert (sqli.rule_id, sqli.severity) == ("SIGMA-0f3c0a1e-1111-4000-8000-000000000001", "high")
    evidence = json.loads(sqli.evidence)
    assert evidence["matched"] == ["SQL keywords in the query [attack.initial-access, attack.t1190]"]
    assert evidence["detail"] == "SQL keywords in the query"
    assert found["10.8.0.3"].severity == "low"  # informational
    assert found["10.8.0.7"].severity == "critical"


def test_a_broken_rule_never_fails_the_run(frames: Any, tmp_path: Path) -> None:
    (tmp_path / "only_broken.yml").write_text(RULES["broken.yml"].lstrip(), encoding="utf-8")
    rows = [{"client_ip": "10.8.1.1", "requested_at": T0, "path": "/x"}]
    out = security_findings(frames.requests(rows), frames.events([]), SecuritySettings(sigma_rules_dir=tmp_path))
    assert out.where("category = 'sigma'").count() == 0
