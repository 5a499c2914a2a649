"""Parsing %chatdf lines and %%chatdf cells: good input, and a one-line UsageError for bad."""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell

from chatdf.magics import parse_assignment, split_line


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("sales=data/sales.parquet", ("sales", "data/sales.parquet")),
        ("sales=df_sales", ("sales", "df_sales")),
        ("data/sales.parquet", (None, "data/sales.parquet")),
        ("df_sales", (None, "df_sales")),
        # Only an identifier before the first '=' names the table: URLs stay whole.
        ("https://host/f.parquet?v=2&x=1", (None, "https://host/f.parquet?v=2&x=1")),
        ("t=https://host/f.parquet?v=2", ("t", "https://host/f.parquet?v=2")),
        ("./a=b.csv", (None, "./a=b.csv")),
        ("my file.csv", (None, "my file.csv")),
    ],
)
def test_name_equals_source(token: str, expected: tuple[str | None, str]) -> None:
    assert parse_assignment(token) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("add sales.csv  # it's the sales file", ["add", "sales.csv"]),
        ("add sales.csv #", ["add", "sales.csv"]),
        ("# only a comment, isn't it", []),
        ("--sidebar\t# in JupyterLab's sidebar", ["--sidebar"]),
        # '#' inside a word or inside quotes is not a comment.
        ("add https://host/f.parquet#part=2", ["add", "https://host/f.parquet#part=2"]),
        ("add t=https://h/f.parquet#x  # the 'x' part", ["add", "t=https://h/f.parquet#x"]),
        ('add "my # file.csv"  # quoted', ["add", "my # file.csv"]),
        ("add 'it''s # here.csv'", ["add", "its # here.csv"]),
        # Escaped characters belong to the word, as in a shell.
        ("add a\\ \\#b.csv", ["add", "a #b.csv"]),
        ("add a\\ #b.csv", ["add", "a #b.csv"]),
        ("add a\\#b.csv  # c", ["add", "a#b.csv"]),
    ],
)
def test_trailing_comments_are_ignored(line: str, expected: list[str]) -> None:
    assert split_line(line) == expected


def test_an_unbalanced_quote_outside_a_comment_is_still_an_error() -> None:
    with pytest.raises(UsageError, match="Could not read the arguments: No closing quotation"):
        split_line("add 'sales.csv  # the file")


def test_a_pasted_line_with_a_comment_runs(
    shell: InteractiveShell, parquet_file, capsys: pytest.CaptureFixture[str]
) -> None:
    shell.run_cell(f"%chatdf add cities={parquet_file}   # it's the cities file")
    assert capsys.readouterr().out.splitlines() == ["Added cities · 5 rows × 6 cols"]
    result = shell.run_cell("%chatdf --help  # what's there?")
    assert result.success


def test_a_name_with_nothing_after_it_is_refused() -> None:
    with pytest.raises(UsageError, match="Nothing after 'sales='"):
        parse_assignment("sales=")


def test_a_name_sql_cannot_use_is_refused() -> None:
    with pytest.raises(UsageError, match="'2024' cannot be a table name"):
        parse_assignment("2024=sales.csv")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("addd x.csv", r"Unknown command 'addd'\. Did you mean 'add'\?"),
        ("frobnicate", r"Unknown command 'frobnicate'\. Commands: add, export, code"),
        ("add", "Nothing to add"),
        ("add sales=", "Nothing after 'sales='"),
        ("export", "Give one variable name"),
        ("export a b", "Give one variable name"),
        ("export 1abc", "'1abc' is not a valid Python variable name.*e.g. df_1abc"),
        ("export class", "'class' is a Python keyword"),
        ("export top --to excel", "invalid choice: 'excel'"),
        ("history now", r"%chatdf history takes no arguments \(got now\)"),
        ("usage --result abc", "--result goes with export and code"),
        ("add x.csv --to pandas", "--to goes with export"),
        ("--to pandas", "Give a command"),
        ("--sidebar add x.csv", "--sidebar goes alone"),
        ("-o top", "-o and --sql are for %%chatdf cells"),
        ("--sql", "-o and --sql are for %%chatdf cells"),
        ("--bogus", "unrecognized arguments: --bogus"),
        ('add "unclosed.csv', "Could not read the arguments"),
    ],
)
def test_bad_lines_are_usage_errors(shell: InteractiveShell, line: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_line_magic("chatdf", line)


@pytest.mark.parametrize(
    ("line", "body", "message"),
    [
        ("add x.csv", "Which city?", "%%chatdf takes only -o VAR and --sql"),
        ("--sidebar", "Which city?", "%%chatdf takes only"),
        ("--to pandas", "Which city?", "%%chatdf takes only"),
        ("", "   \n", "The cell is empty: write a question"),
        ("--sql", "\n", "The cell is empty: write SQL"),
        ("-o 2x", "Which city?", "'2x' is not a valid Python variable name"),
    ],
)
def test_bad_cells_are_usage_errors(
    shell: InteractiveShell, line: str, body: str, message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        shell.run_cell_magic("chatdf", line, body)


def test_a_bad_line_in_a_cell_shows_one_line_not_a_traceback(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell("%chatdf addd sales.csv")
    captured = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError)
    assert "UsageError: Unknown command 'addd'. Did you mean 'add'?" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_a_failed_add_is_a_message_too(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    result = shell.run_cell("%chatdf add no/such/file.parquet")
    captured = capsys.readouterr()
    assert isinstance(result.error_in_exec, UsageError)
    assert "UsageError: File not found: no/such/file.parquet" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_help_lists_every_command(
    shell: InteractiveShell, capsys: pytest.CaptureFixture[str]
) -> None:
    assert shell.run_line_magic("chatdf", "--help") is None
    out = capsys.readouterr().out
    for usage in (
        "%chatdf add [name=]SOURCE",
        "%chatdf export NAME [--to polars|pandas|lazy]",
        "%chatdf code",
        "%chatdf history",
        "%chatdf usage",
        "%chatdf --sidebar",
        "%%chatdf [-o VAR]",
        "%%chatdf --sql [-o VAR]",
    ):
        assert usage in out
