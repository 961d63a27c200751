"""webtrail for notebooks and scripts: the staged raw requests and the warehouse tables as pandas.

    import webtrail
    wt = webtrail.connect()                      # WEBTRAIL_* settings, as the flows use them
    wt.requests(day="2026-11-24", ip="203.0.113.45")
    wt.findings(min_severity="high")
    wt.sessions(user_id="u_ddf106738e9b4a89")
    wt.sql("SELECT status, count(*) AS n FROM requests GROUP BY status ORDER BY n DESC")

Every method returns a pandas DataFrame; ``day`` defaults to the newest staged day and ``days`` (how
many days ending with ``day``) to 1. See README, "Investigating with SQL and in a notebook".
"""

from __future__ import annotations

from webtrail.client import Webtrail, connect
from webtrail.sql import QueryRefused

__all__ = ["QueryRefused", "Webtrail", "connect"]
