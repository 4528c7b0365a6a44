"""Every command fails the same way: one ``Error:`` line with the cause and the fix, exit 1,
and the traceback only with ``--debug`` or ``OMNICORE_DEBUG=1``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from omnicore.cli import main


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(main, list(args), env=env or {})
    return result.exit_code, result.output, result.exception


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: "), output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.postgres
@pytest.mark.parametrize(("change", "expected"), [
    ({"database": "omnicore_no_such_database"}, "does not exist on"),
    ({"username": "omnicore_no_such_role"}, "refused the role 'omnicore_no_such_role'"),
    ({"port": 1}, "is PostgreSQL running at"),
    ({"host": "no-such-host.invalid"}, "unknown host 'no-such-host.invalid'"),
])
@pytest.mark.parametrize("command", [["migrate"], ["demo", "--no-serve"],
                                     ["import", "stock", "counts.csv"]])
def test_postgresql_problems_are_one_line_with_the_fix(
    postgres_admin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    change: dict[str, object], expected: str, command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "counts.csv").write_text("sku,location,on_hand\nA,wh,1\n")
    url = make_url(postgres_admin).set(**change).render_as_string(hide_password=False)  # type: ignore[arg-type]
    code, output, _ = invoke("--database-url", url, *command)
    assert code == 1
    line = one_error_line(output)
    assert expected in line
    assert "database.url" in line


def test_the_missing_postgres_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # as if omnicore[postgres] were absent
    code, output, _ = invoke("--database-url", "postgresql://shop@db.internal/shop", "migrate")
    assert code == 1
    assert "pip install 'omnicore[postgres]'" in one_error_line(output)


def test_debug_shows_the_traceback(postgres_admin: str, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = make_url(postgres_admin).set(port=1).render_as_string(hide_password=False)
    for args, env in [(["--debug"], {}), ([], {"OMNICORE_DEBUG": "1"})]:
        code, _, exception = invoke(*args, "--database-url", url, "migrate", env=env)
        assert code == 1
        assert exception is not None and not isinstance(exception, SystemExit)


@pytest.mark.parametrize("url", ["not a url", "shop", "shop.txt"])
def test_what_is_not_a_url_nor_a_sqlite_path_is_refused_and_creates_nothing(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, output, _ = invoke("--database-url", url, "migrate")
    assert code == 1
    assert "neither a database URL" in one_error_line(output)
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_file_in_a_missing_folder_is_refused_and_no_folder_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "missing" / "deeper" / "shop.db"
    code, output, _ = invoke("--database-url", f"sqlite:///{target}", "migrate")
    assert code == 1
    assert "does not exist" in one_error_line(output)
    assert not (tmp_path / "missing").exists()
    code, _, _ = invoke("--database-url", "shop.db", "migrate")  # a plain path still works
    assert code == 0 and (tmp_path / "shop.db").exists()


def test_the_summary_counts_in_words(db_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from omnicore.cli.importing import plural

    assert (plural(1, "row"), plural(0, "row"), plural(2, "row")) == ("1 row", "0 rows", "2 rows")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "one.csv").write_text("sku,location,on_hand\nGHOST,wh,1\n")
    result = CliRunner().invoke(main, ["--database-url", db_url, "import", "stock", "one.csv"])
    assert "one.csv: 1 row read, 0 accepted, 1 rejected" in result.output


def test_a_repeated_header_column_is_named(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dup.csv").write_text("sku,sku,location,on_hand\nA,A,wh,1\n")
    code, output, _ = invoke("--database-url", "shop.db", "import", "stock", "dup.csv")
    assert code == 1
    assert output.splitlines()[-1] == (
        "Error: file: line 1: the header names 'sku' more than once: each column may appear once")
    assert "Traceback" not in output


def test_permissions_are_listed_as_the_docs_write_them(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, output, _ = invoke("--database-url", "shop.db", "staff", "create-key", "Ops",
                             "-p", "MANAGE_NOTHING")
    assert code == 2  # a usage error, as click reports them
    assert "MANAGE_CATALOG, MANAGE_CHANNELS" in output and "manage_catalog" not in output
    code, output, _ = invoke("--database-url", "shop.db", "staff", "create-key", "Ops",
                             "-p", "manage_catalog")  # either case is accepted
    assert code == 0, output


@pytest.mark.postgres
def test_serve_with_workers_exits_non_zero_when_every_worker_fails(
    postgres_admin: str, tmp_path: Path,
) -> None:
    import os
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = make_url(postgres_admin).set(database="omnicore_no_such_database").render_as_string(
        hide_password=False)
    run = subprocess.run(
        [sys.executable, "-m", "omnicore.cli", "--database-url", url, "serve", "--workers", "2",
         "--port", str(port)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("OMNICORE_")},
    )
    assert run.returncode == 1, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: the gateway could not start: ")
    assert "does not exist" in last


def test_migrate_reports_each_revision_as_it_is_applied(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from omnicore.store.migrate import head_revision

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["--database-url", "shop.db", "migrate"])
    assert result.exit_code == 0, result.output
    applied = [line.split()[1].rstrip(":") for line in result.stderr.splitlines()
               if line.strip().startswith("applied ")]
    assert applied[0] == "0001" and applied[-1] == head_revision()
    assert applied == sorted(applied) and len(applied) == int(head_revision())
    again = CliRunner().invoke(main, ["--database-url", "shop.db", "migrate"])
    assert "applied" not in again.stderr and "nothing to do" in again.stdout
