"""Framework config files read for session settings: each format's reader on tricky but valid input,
and no text at all (random, malformed, hostile) makes a reader raise anything but a report."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from stateless_pack.policies.rules import config_files
from stateless_pack.policies.rules.session_files import FORMATS, file_format, session_file_findings

FILE_NAMES = ["php.ini", "php-fpm.d/www.conf", "application.properties", "application-prod.yml", "settings.py",
              "context.xml", "appsettings.Development.json", ".env"]


def findings(name: str, text: str) -> list[str]:
    return list(session_file_findings(name, text))


def test_every_format_has_a_file_name_here():
    assert {file_format(name)[0] for name in FILE_NAMES} == {name for _, name, _ in FORMATS}
    assert file_format("php.ini.example") is None and file_format("redis.conf") is None
    assert file_format("conf.d/ZZ-Sessions.INI")[0] == "PHP ini"


@pytest.mark.parametrize("path,expected", [
    ("/usr/local/etc/php-fpm.d/zz-docker.conf", "PHP-FPM pool"), ("/etc/php/8.3/fpm/pool.d/web.conf", "PHP-FPM pool"),
    ("www.conf", "PHP-FPM pool"), ("/usr/local/etc/php-fpm.conf", "PHP-FPM pool"), ("/etc/nginx/conf.d/www2.conf", None),
    ("custom.conf", None), ("/config/bootstrap.yml", "YAML"), ("bootstrap-prod.properties", "Java properties"),
    ("/usr/local/etc/php/conf.d/zz-overrides.ini", "PHP ini"), ("/app/php.ini.example", None),
])
def test_a_file_is_known_by_its_path(path, expected):
    assert (file_format(path) or (None,))[0] == expected


@pytest.mark.parametrize("name,text,flagged", [
    ("php.ini", "session.save_handler=files", True),
    ("php.ini", "  session.save_handler = 'files'  ; indented, quoted, commented", True),
    ("php.ini", "[PHP]\nsession.save_handler = files\n[Session]\nsession.save_handler = redis", False),
    ("application.properties", "spring.session.store_type : none", True),
    ("application.properties", "spring.session.store-type=\\\n    none", True),
    ("application.properties", "! spring.session.store-type=none", False),
    ("application.yml", "spring.session.store-type: none", True),
    ("application.yml", "server: {servlet: {session: {persistent: 'false'}}}", False),
    ("settings.py", "SESSION_ENGINE: str = 'django.contrib.sessions.backends.file'", True),
    ("settings.py", "if True:\n    SESSION_ENGINE = 'django.contrib.sessions.backends.file'", False),
    ("context.xml", '<Context xmlns="urn:x"><Manager className="a.PersistentManager"><Store '
                    'className="b.DataSourceStore"/><Store className="c.FileStore"/></Manager></Context>', True),
    ("appsettings.json", '{"url": "http://a//b", "x": "/* not a comment */", '
                         '"Session": {"Mode": "DistributedMemoryCache"}}', True),
    ("appsettings.json", '{"Session": {"Provider": "Redis"}, "DistributedCache": ["Memory"]}', False),
    ("www.conf", "[www]\nphp_admin_value[session.save_handler] = files", True),
    ("www.conf", "[www]\nphp_value[session.save_handler]=files\nphp_value[session.save_handler]=redis", False),
    ("www.conf", "[www]\nenv[SESSION_DRIVER] = file", True),
    ("www.conf", "[www]\nenv[session_driver] = file\nenv[SESSION_DRIVER] = $SESSION_DRIVER", False),
    ("bootstrap.yml", "spring: {session: {store-type: none}}", True),
    ("application.properties", "spring.application.json={\"spring.session.store-type\": \"none\"}", True),
    (".env", "JAVA_TOOL_OPTIONS=-Dspring.session.store-type=none", True),
    (".env", "SESSION_DRIVER=file # the default", True),
    (".env", "SESSION_DRIVER='redis'\n#SESSION_DRIVER=file", False),
])
def test_each_format_is_read_like_its_framework_reads_it(name, text, flagged):
    found = findings(name, text)
    assert bool(found) is flagged, found
    assert not any("cannot be read" in f for f in found)


@pytest.mark.parametrize("name,text", [
    ("php.ini", "= files"), ("application.yml", "a: [1, 2"), ("application.yml", "a: 1\na: 2"),
    ("settings.py", "SESSION_ENGINE = ("), ("context.xml", "<Context>"), ("appsettings.json", "{'a': 1}"),
    ("settings.py", "x = 1\0"),
])
def test_a_file_that_does_not_parse_is_reported_as_unreadable(name, text):
    [message] = findings(name, text)
    assert message.startswith(f"cannot be read as {file_format(name)[0]} (") and "\n" not in message


@pytest.mark.parametrize("name,text", [
    ("php.ini", "= hunter2-secret"), ("application.yml", "password: [hunter2-secret"),
    ("application.yml", "a: 1\na: hunter2-secret"), ("settings.py", "PASSWORD = 'hunter2-secret"),
    ("context.xml", "<Context password='hunter2-secret'>"), ("appsettings.json", '{"p": "hunter2-secret"'),
])
def test_an_unreadable_file_is_never_quoted(name, text):
    """Files may come from Secrets: the report says where the file breaks, never what it holds."""
    [message] = findings(name, text)
    assert "cannot be read" in message and "hunter2" not in message


def test_yaml_aliases_cannot_blow_up_the_reader():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    [message] = findings("application.yaml", bomb)
    assert "alias bomb" in message and "cannot be checked" in message  # the shared loader refuses it


def test_a_file_with_too_many_settings_is_reported_not_walked():
    many = "".join(f"key{i}: {i}\n" for i in range(config_files.MAX_SETTINGS + 1))
    [message] = findings("application.yaml", many)
    assert f"more than {config_files.MAX_SETTINGS} settings" in message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(FILE_NAMES), text=st.one_of(
    st.text(max_size=300),
    st.text(alphabet="[]{}()<>=:;#!\"'\\/*,.-_ \n\tabcsession.save_handler=files&", max_size=300)))
def test_no_text_makes_a_reader_raise(name, text):
    assert all(isinstance(message, str) and message for message in findings(name, text))
