-- webtrail schema, version 1: every table of DESIGN.md.
-- Conventions: *_at timestamptz (UTC), *_ms durations, is_* booleans, `day` on every daily table.

CREATE SCHEMA IF NOT EXISTS webtrail;

-- ---------------------------------------------------------------- behavior
CREATE TABLE webtrail.sessions (
    day              date        NOT NULL,
    session_id       text        NOT NULL,
    visitor_key      text        NOT NULL,
    user_id          text,
    client_ip        text        NOT NULL,
    user_agent       text,
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz NOT NULL,
    duration_ms      bigint      NOT NULL,
    page_views       integer     NOT NULL,
    requests         integer     NOT NULL,
    bytes            bigint      NOT NULL,
    entry_path       text,
    exit_path        text,
    is_bounce        boolean     NOT NULL,
    is_bot           boolean     NOT NULL,
    browser_family   text,
    os_family        text,
    device_type      text,
    referrer_domain  text,
    user_plan        text,
    user_country     text,
    PRIMARY KEY (day, session_id)
);
CREATE INDEX sessions_user_idx ON webtrail.sessions (user_id, day);
CREATE INDEX sessions_ip_idx ON webtrail.sessions (client_ip, day);

CREATE TABLE webtrail.user_daily (
    day            date        NOT NULL,
    user_id        text        NOT NULL,
    sessions       integer     NOT NULL,
    page_views     integer     NOT NULL,
    requests       integer     NOT NULL,
    bytes          bigint      NOT NULL,
    events         integer     NOT NULL,
    purchases      integer     NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    PRIMARY KEY (day, user_id)
);
CREATE INDEX user_daily_user_idx ON webtrail.user_daily (user_id);

CREATE TABLE webtrail.page_daily (
    day                  date    NOT NULL,
    path_template        text    NOT NULL,
    views                integer NOT NULL,
    unique_visitors      integer NOT NULL,
    entries              integer NOT NULL,
    exits                integer NOT NULL,
    bounces              integer NOT NULL,
    bounce_rate          double precision,
    avg_time_on_page_ms  double precision,
    PRIMARY KEY (day, path_template)
);
CREATE INDEX page_daily_path_idx ON webtrail.page_daily (path_template);

CREATE TABLE webtrail.funnel_daily (
    day                       date    NOT NULL,
    step_number               integer NOT NULL,
    step_name                 text    NOT NULL,
    visitors                  integer NOT NULL,
    conversion_from_previous  double precision,
    conversion_from_start     double precision,
    PRIMARY KEY (day, step_number)
);

CREATE TABLE webtrail.client_daily (
    day             date    NOT NULL,
    browser_family  text    NOT NULL,
    os_family       text    NOT NULL,
    device_type     text    NOT NULL,
    is_bot          boolean NOT NULL,
    requests        bigint  NOT NULL,
    sessions        integer NOT NULL,
    visitors        integer NOT NULL,
    PRIMARY KEY (day, browser_family, os_family, device_type, is_bot)
);

CREATE TABLE webtrail.referrer_daily (
    day              date    NOT NULL,
    referrer_domain  text    NOT NULL,
    sessions         integer NOT NULL,
    visitors         integer NOT NULL,
    PRIMARY KEY (day, referrer_domain)
);

-- ---------------------------------------------------------------- performance
CREATE TABLE webtrail.traffic_minute (
    day             date        NOT NULL,
    minute_at       timestamptz NOT NULL,
    requests        integer     NOT NULL,
    bytes           bigint      NOT NULL,
    status_2xx      integer     NOT NULL,
    status_3xx      integer     NOT NULL,
    status_4xx      integer     NOT NULL,
    status_5xx      integer     NOT NULL,
    p50_ms          double precision,
    p95_ms          double precision,
    p99_ms          double precision,
    unique_clients  integer     NOT NULL,
    is_spike        boolean     NOT NULL DEFAULT false,
    spike_score     double precision,
    PRIMARY KEY (day, minute_at)
);

CREATE TABLE webtrail.endpoint_daily (
    day            date    NOT NULL,
    method         text    NOT NULL,
    path_template  text    NOT NULL,
    hits           bigint  NOT NULL,
    errors         bigint  NOT NULL,
    error_rate     double precision NOT NULL,
    p50_ms         double precision,
    p95_ms         double precision,
    p99_ms         double precision,
    max_ms         double precision,
    bytes          bigint  NOT NULL,
    PRIMARY KEY (day, method, path_template)
);
CREATE INDEX endpoint_daily_path_idx ON webtrail.endpoint_daily (path_template);

CREATE TABLE webtrail.status_daily (
    day       date    NOT NULL,
    status    integer NOT NULL,
    requests  bigint  NOT NULL,
    bytes     bigint  NOT NULL,
    PRIMARY KEY (day, status)
);

-- ---------------------------------------------------------------- security
CREATE TABLE webtrail.security_findings (
    day             date        NOT NULL,
    client_ip       text        NOT NULL,
    category        text        NOT NULL,
    rule_id         text        NOT NULL,
    severity        text        NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    first_seen_at   timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    request_count   bigint      NOT NULL,
    distinct_paths  integer     NOT NULL,
    user_ids        text[]      NOT NULL DEFAULT '{}',
    score           double precision,
    evidence        jsonb       NOT NULL,
    PRIMARY KEY (day, client_ip, category)
);
CREATE INDEX security_findings_ip_idx ON webtrail.security_findings (client_ip);
CREATE INDEX security_findings_category_idx ON webtrail.security_findings (category, day);

CREATE TABLE webtrail.ip_daily (
    day                  date        NOT NULL,
    client_ip            text        NOT NULL,
    requests             bigint      NOT NULL,
    bytes                bigint      NOT NULL,
    status_4xx           bigint      NOT NULL,
    status_5xx           bigint      NOT NULL,
    distinct_paths       integer     NOT NULL,
    distinct_user_agents integer     NOT NULL,
    first_seen_at        timestamptz NOT NULL,
    last_seen_at         timestamptz NOT NULL,
    is_flagged           boolean     NOT NULL,
    PRIMARY KEY (day, client_ip)
);
CREATE INDEX ip_daily_ip_idx ON webtrail.ip_daily (client_ip);

-- ---------------------------------------------------------------- operations
CREATE TABLE webtrail.pipeline_runs (
    run_id          uuid        PRIMARY KEY,
    flow_run_id     text,
    day             date        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'skipped')),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    lines_read      bigint,
    lines_parsed    bigint,
    lines_rejected  bigint,
    events_read     bigint,
    events_rejected bigint,
    users_read      bigint,
    stage_timings   jsonb       NOT NULL DEFAULT '{}',
    error           text
);
CREATE INDEX pipeline_runs_day_idx ON webtrail.pipeline_runs (day, started_at);

CREATE TABLE webtrail.run_inputs (
    run_id          uuid    NOT NULL REFERENCES webtrail.pipeline_runs (run_id) ON DELETE CASCADE,
    day             date    NOT NULL,
    kind            text    NOT NULL CHECK (kind IN ('access_log', 'events', 'users')),
    path            text    NOT NULL,
    size_bytes      bigint  NOT NULL,
    sha256          text    NOT NULL,
    lines_read      bigint  NOT NULL,
    lines_parsed    bigint  NOT NULL,
    lines_rejected  bigint  NOT NULL,
    PRIMARY KEY (run_id, path)
);
CREATE INDEX run_inputs_day_idx ON webtrail.run_inputs (day);

CREATE TABLE webtrail.rejected_lines (
    day          date    NOT NULL,
    source_file  text    NOT NULL,
    line_number  bigint  NOT NULL,
    reason       text    NOT NULL,
    raw_text     text    NOT NULL,
    PRIMARY KEY (day, source_file, line_number)
);

CREATE TABLE webtrail.quality_results (
    run_id         uuid    NOT NULL,
    day            date    NOT NULL,
    dataset        text    NOT NULL,
    check_name     text    NOT NULL,
    check_type     text    NOT NULL,
    column_name    text,
    level          text    NOT NULL CHECK (level IN ('blocking', 'warn')),
    outcome        text    NOT NULL,
    metric_values  jsonb   NOT NULL DEFAULT '{}',
    checked_at     timestamptz NOT NULL DEFAULT now(),
    -- The same check name recurs per column (e.g. a "missing" check on several columns), so the key
    -- includes the column; column_name stays NULL for dataset-level checks.
    column_key     text GENERATED ALWAYS AS (coalesce(column_name, '')) STORED,
    PRIMARY KEY (run_id, dataset, check_name, column_key)
);
CREATE INDEX quality_results_day_idx ON webtrail.quality_results (day, dataset);
