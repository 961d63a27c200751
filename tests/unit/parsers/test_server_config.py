"""Reading the log format straight from an nginx or Apache configuration file (hand-written configs in
the shape the distributions ship and admins edit)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from parsers.log_format import LogFormatError, compile_format
from parsers.server_config import apache_formats, format_from_config, nginx_formats

NGINX_CONF = r"""
user www-data;
worker_processes auto;   # one per core
events { worker_connections 768; }

http {
    include /etc/nginx/mime.types;
    # log_format commented 'not this one';
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';

    log_format upstream_time '$remote_addr - $remote_user [$time_local] '
        '"$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" '
        'rt=$request_time uct="$upstream_connect_time" urt="$upstream_response_time"';

    log_format json_like escape=json "{\"ip\":\"$remote_addr\"}";

    server {
        listen 80;
        access_log /var/log/nginx/access.log upstream_time buffer=32k;
        location / { proxy_pass http://app; }
    }
}
"""

APACHE_CONF = r"""
# Debian's apache2.conf (excerpt)
ServerRoot "/etc/apache2"
HostnameLookups Off
LogFormat "%v:%p %h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" vhost_combined
LogFormat "%h %l %u %t \"%r\" %>s %O \"%{Referer}i\" \"%{User-Agent}i\"" combined
LogFormat "%h %l %u %t \"%r\" %>s %O" common
LogFormat "%{Referer}i -> %U" referer
logformat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\" %D \
%{X-Request-Id}i" timed
<VirtualHost *:80>
    CustomLog ${APACHE_LOG_DIR}/access.log timed
</VirtualHost>
"""


@pytest.fixture
def nginx_conf(tmp_path: Path) -> Path:
    path = tmp_path / "nginx.conf"
    path.write_text(NGINX_CONF)
    return path


@pytest.fixture
def apache_conf(tmp_path: Path) -> Path:
    path = tmp_path / "apache2.conf"
    path.write_text(APACHE_CONF)
    return path


def test_nginx_multi_line_formats_are_joined(nginx_conf: Path) -> None:
    found = nginx_formats(nginx_conf.read_text())
    assert set(found.formats) == {"main", "upstream_time", "json_like"}
    assert found.formats["main"] == (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
        '"$http_user_agent" "$http_x_forwarded_for"'
    )
    assert found.formats["json_like"] == '{"ip":"$remote_addr"}'  # escape=json dropped, \" unescaped
    assert found.used == ("upstream_time",)


def test_nginx_format_chosen_by_name_parses_its_lines(nginx_conf: Path, parse_lines) -> None:
    fmt = format_from_config(nginx_conf, "main")
    assert fmt.name == "nginx:main" and fmt.regex == compile_format("main").regex
    line = ('198.51.100.7 - - [24/Nov/2026:13:55:36 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8" '
            '"rt=0.2 uct=\\"0.001\\" urt=\\"0.190\\""')
    uline = ('198.51.100.7 - - [24/Nov/2026:13:55:36 +0000] "GET /a HTTP/1.1" 200 5 "-" "curl/8" '
             'rt=0.200 uct="0.001" urt="0.190"')
    req, rej, st = parse_lines([uline], log_format_config=nginx_conf)  # no name: the one access_log uses
    assert rej.height == 0 and st.format_name == "nginx:upstream_time"
    assert req.row(0, named=True)["request_time_ms"] == 200.0
    assert req.row(0, named=True)["requested_at"] == datetime(2026, 11, 24, 13, 55, 36, tzinfo=UTC)
    req, rej, _ = parse_lines([line], log_format_config=nginx_conf, log_format="main")
    assert rej.height == 0 and req.row(0, named=True)["user_agent"] == "curl/8"


def test_nginx_predefined_combined_and_unknown_names(nginx_conf: Path) -> None:
    assert format_from_config(nginx_conf, "combined").regex == compile_format("combined").regex
    with pytest.raises(LogFormatError, match=r"nginx.conf: no nginx log format named 'mian' \(defined: json_like"):
        format_from_config(nginx_conf, "mian")


def test_apache_formats_by_nickname(apache_conf: Path, parse_lines) -> None:
    found = apache_formats(apache_conf.read_text())
    assert set(found.formats) == {"vhost_combined", "combined", "common", "referer", "timed"}
    assert found.formats["combined"] == '%h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"'
    assert found.formats["timed"].endswith('%D %{X-Request-Id}i')  # continuation line joined
    assert found.used == ("timed",)
    line = ('web01.example.net - - [24/Nov/2026:13:55:36 +0000] "GET /x HTTP/1.1" 200 5 "-" "curl/8" 1500 '
            "req-7f3a")
    req, rej, st = parse_lines([line + "\r"], log_format_config=apache_conf)
    assert rej.height == 0 and st.format_name == "apache:timed"
    row = req.row(0, named=True)
    assert (row["client_ip"], row["request_time_ms"], row["path"]) == ("web01.example.net", 1.5, "/x")
    vhost = format_from_config(apache_conf, "vhost_combined")
    assert vhost.regex == compile_format("vhost_combined").regex


def test_several_formats_and_no_choice_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "httpd.conf"
    path.write_text('LogFormat "%h %t \\"%r\\" %>s %b" a\nLogFormat "%h %t \\"%r\\" %>s" b\n')
    with pytest.raises(LogFormatError, match=r"httpd.conf: defines 2 apache log formats \(a, b\)"):
        format_from_config(path)
    assert format_from_config(path, "b").fields == ("client", "time_clf", "request", "status")


def test_a_file_without_formats_is_named(tmp_path: Path) -> None:
    path = tmp_path / "site.conf"
    path.write_text("server { listen 80; }\n")
    with pytest.raises(LogFormatError, match="site.conf: no nginx log_format and no Apache LogFormat"):
        format_from_config(path)
