"""Count-in-window rules on requests and login events: malformed_request, credential_stuffing and
account_takeover.

Per client IP, the window ending at a row's time t is (t - W, t] on epoch microseconds with W =
`window_minutes` (a row exactly W before t is out); analytics/windows.py evaluates the windows.

- credential_stuffing (high): distinct user ids with login_failure events from one IP in the window;
  its signals are the failures of every window that reached `credential_stuffing_users`.

- malformed_request (medium): the requests a browser does not send, counted per IP in the window:
  an empty request line (`"-"`: a connection closed before any request, as a port scanner or a slow
  probe does), a malformed one (a TLS handshake on the plain-HTTP port, a bare `HELP`, anything that
  is not METHOD SP target; parsers/schema.py `request_kind`), a non-HTTP protocol (`RTSP/1.0`,
  `http/1.1`), a method no HTTP client or WebDAV client uses (`PRI`: the HTTP/2 preface sent to an
  HTTP/1 port, `SSTP_DUPLEX_POST`, invented verbs), and every answer 400. A request line without a
  protocol (the HTTP/0.9 form) is not counted unless answered 400; CONNECT is the open_proxy rule's.
  Fires when >= `malformed_requests` of them fall in one window; its signals are the rows of every
  window that reached the threshold. Every 400 counts (the public detectors' bad-request filters are
  narrower: garbled lines only), which is why the default threshold is twice fail2ban's usual
  maxretry of 5: API clients legitimately get a few 400s for invalid input, and a browser's
  pre-opened connection closed unused shows as one empty request now and then.
- account_takeover (high): a `login_success` event from an IP whose window ending at the success
  holds >= `account_takeover_failures` `login_failure` events from that IP (any user). The signals
  are the successes, so the finding's user_ids are the accounts that were taken. A user mistyping a
  password once or twice before logging in stays below the threshold.

"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window, functions

from analytics import signals

# An HTTP version token as servers log it (HTTP/1.0, HTTP/1.1, HTTP/2.0, HTTP/2, HTTP/3). Case matters:
# the protocol name is case-sensitive (RFC 9112), and servers answer 400 to 'http/1.1'.
HTTP_PROTOCOL_RE = r"^HTTP/[0-9](\.[0-9])?$"
# Methods real clients send: RFC 9110, PATCH (RFC 5789), WebDAV (RFC 4918, 3253, 3648, 5323) and CalDAV.
# Any other token (PRI, SSTP_DUPLEX_POST, invented verbs) is a probe.
CLIENT_METHODS = (
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "MKCALENDAR",
    "VERSION-CONTROL", "CHECKOUT", "CHECKIN", "UNCHECKOUT", "MKWORKSPACE", "UPDATE", "LABEL", "MERGE",
    "BASELINE-CONTROL", "MKACTIVITY", "ORDERPATCH", "ACL", "BIND", "UNBIND", "REBIND",
)
# A TLS record header (handshake, SSL 3.0 .. TLS 1.3) as nginx escapes it, or raw
_TLS_RE = r"^(\\x16\\x03|\x16\x03)"


def malformed_reason(
    kind: Column, method: Column, path: Column, protocol: Column, request: Column, status: Column
) -> Column:
    """Why a request is malformed ('empty request', 'tls handshake', 'no method', 'protocol X',
    'method X', 'status 400'), or null when it is not. `kind` is request_kind; a null kind (rows
    staged before it existed) falls back to reading the columns."""
    has_request = request.isNotNull() & ~request.isin("", "-")
    junk = functions.coalesce(kind == "malformed", method.isNull() & path.isNull() & has_request)
    return (
        functions.when(functions.coalesce(kind == "empty", functions.lit(False)), functions.lit("empty request"))
        .when(junk & functions.coalesce(request.rlike(_TLS_RE), functions.lit(False)), functions.lit("tls handshake"))
        .when(junk, functions.lit("no method"))
        .when(
            protocol.isNotNull() & ~protocol.rlike(HTTP_PROTOCOL_RE),
            functions.concat(functions.lit("protocol "), protocol),
        )
        .when(
            method.isNotNull() & ~functions.upper(method).isin(*CLIENT_METHODS),
            functions.concat(functions.lit("method "), method),
        )
        .when(status == 400, functions.lit("status 400"))
    )


def malformed_signals(day: signals.RuleInput) -> DataFrame:
    """Candidates of malformed_request: the malformed requests (`malformed_reason`: the request line's
    reason, decided once per line in analytics/lookups.py, else 'status 400'), counted per IP in the window."""
    settings = day.detection.settings
    rows = day.candidates.where(functions.col("malformed"))
    return signals.to_signals(
        rows, **signals.request_texts(), matched=functions.col("malformed_reason"),
        window_at=functions.col("t"), window_span=settings.window_minutes * signals.US_PER_MINUTE,
        **signals.threshold_rule("malformed_request", settings.malformed_requests, settings.window_minutes),
    )


def credential_stuffing_signals(day: signals.RuleInput) -> DataFrame:
    """Candidates of credential_stuffing (requests not read): login_failure events, counting distinct
    user ids per IP in the window."""
    settings = day.detection.settings
    failures = day.events.where(functions.col("event_type") == "login_failure")
    return signals.to_signals(
        failures, ts=functions.col("occurred_at"), request=signals.login_event_text("failure"), matched=None,
        window_at=functions.unix_micros("occurred_at"), window_span=settings.window_minutes * signals.US_PER_MINUTE,
        window_key=functions.col("user_id"), window_distinct=True, status=None,
        **signals.threshold_rule("credential_stuffing", settings.credential_stuffing_users, settings.window_minutes),
    )


def account_takeover_signals(day: signals.RuleInput) -> DataFrame:
    """Signals of account_takeover (requests not read): login successes after >= account_takeover_failures
    failures in the window.

    Its own window (a sum and the distinct failing users, over the login events only: a few per IP).
    """
    settings = day.detection.settings
    logins = day.events.where(
        functions.col("event_type").isin("login_failure", "login_success") & functions.col("client_ip").isNotNull()
    ).withColumns(
        {"_us": functions.unix_micros("occurred_at"), "_failure": functions.col("event_type") == "login_failure"}
    )
    window_us = settings.window_minutes * signals.US_PER_MINUTE
    back = Window.partitionBy("client_ip").orderBy("_us").rangeBetween(-(window_us - 1), 0)
    counted = logins.withColumns(
        {
            "metric": functions.sum(functions.col("_failure").cast("int")).over(back).cast("double"),
            "_users": functions.size(
                functions.collect_set(functions.when(functions.col("_failure"), functions.col("user_id"))).over(back)
            ),
        }
    )
    taken = counted.where(~functions.col("_failure") & (functions.col("metric") >= settings.account_takeover_failures))
    detail = functions.format_string("login_failure events in the window before the success: %d (distinct users: %d)",
                             functions.col("metric").cast("int"), "_users")
    return signals.to_signals(
        taken, ts=functions.col("occurred_at"), request=signals.login_event_text("success"), detail=detail,
        status=None, matched=None,
        **signals.threshold_rule("account_takeover", settings.account_takeover_failures, settings.window_minutes),
    )
