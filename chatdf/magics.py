"""IPython magics: ``%chatdf`` and ``%%chatdf``, loaded by ``%load_ext chatdf``.

::

    %chatdf                          show the kernel's default chat (made on first use)
    %chatdf --sidebar                in JupyterLab's right sidebar (inline elsewhere)
    %chatdf add [name=]SOURCE ...    URLs, paths, globs or DataFrame variables
    %chatdf export NAME [--to polars|pandas|lazy] [--result ID] [--overwrite]
    %chatdf code [--result ID]       the result as Polars code, in a new cell
    %chatdf chart NAME [--overwrite] the last chart (an Altair chart) into a variable
    %chatdf history                  stored conversations
    %chatdf usage                    tokens used in the last 24 hours
    %%chatdf [-o VAR]                the cell is a question; the answer streams in
    %%chatdf --sql [-o VAR]          the cell is SQL

A ``#`` that starts a word outside quotes begins a comment, as in a shell, so
a line pasted with a trailing comment works (:func:`split_line`).

Parsing (:func:`parse_command`) is separate from running
(:class:`ChatDFMagics`); every mistake in either is a ``UsageError``, which
IPython shows as one line instead of a traceback. Results are bound into the
namespace only after the work succeeded.

``%load_ext chatdf`` imports only this module: the chat (and the SDK, the
engine and the widget stack) is made on first use.
"""

from __future__ import annotations

import difflib
import html
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments
from IPython.utils.process import arg_split
from traitlets import Float, TraitError, Unicode, validate

from .errors import ChatDFError, ExportError
from .sidebar import SIDEBAR_TITLE, SidebarPlacement

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

    from .events import AnswerEvent
    from .widget import ChatDF

COMMANDS = ("add", "export", "code", "chart", "history", "usage")
TARGETS_HELP = "polars|pandas|lazy"
"""``--to`` choices as the help shows them; checked against ``export.EXPORT_TARGETS``."""
DEFAULT_OUTPUT = "_chatdf"
THINKING = "_Thinking…_"
RUNNING = "_Running a query…_"


# -- parsing --------------------------------------------------------------------


def split_line(line: str) -> list[str]:
    """The arguments of a ``%chatdf`` line, as a POSIX shell splits them, comments dropped.

    A ``#`` at the start of a word (after whitespace, outside quotes, not
    escaped) starts a comment to the end of the line; a ``#`` inside a word
    (``https://host/f.parquet#part``) or inside quotes is kept.
    """
    try:
        return arg_split(_strip_comment(line), posix=True)
    except ValueError as exc:  # unbalanced quotes
        raise UsageError(f"Could not read the arguments: {exc}.") from None


def _strip_comment(line: str) -> str:
    quote: str | None = None
    escaped = False
    word_start = True
    for index, char in enumerate(line):
        literal = escaped or quote is not None  # part of a word, whatever the character
        if escaped:
            escaped = False
        elif quote is not None:
            if char == quote:
                quote = None
            elif char == "\\" and quote == '"':
                escaped = True
        elif char == "\\":
            escaped = True
        elif char in "'\"":
            quote = char
        elif char == "#" and word_start:
            return line[:index]
        word_start = char.isspace() and not literal
    return line



def parse_assignment(token: str) -> tuple[str | None, str]:
    """Split ``name=SOURCE`` into ``("name", "SOURCE")``; without ``name=``, ``(None, token)``.

    Only an identifier before the first ``=`` is a name, so a URL with a query
    string (``https://host/f.parquet?v=2``) stays whole. This is the one piece
    of syntax of its own that the magics have; please keep it that way.
    """
    name, sep, source = token.partition("=")
    if sep and name.isidentifier():
        if not source:
            raise UsageError(f"Nothing after '{name}=': give a URL, a path or a variable.")
        return name, source
    if sep and name.isalnum():  # meant as a name, but one SQL cannot use (e.g. '2024=...')
        raise UsageError(
            f"'{name}' cannot be a table name: use letters, digits and underscores, "
            "not starting with a digit."
        )
    return None, token


@dataclass(frozen=True)
class Command:
    """One parsed ``%chatdf`` line or ``%%chatdf`` cell."""

    action: str
    """show, sidebar, add, export, code, history, usage, ask or sql."""
    args: tuple[str, ...] = ()
    out: str | None = None
    to: str = "polars"
    result: str | None = None
    body: str = ""
    overwrite: bool = False


def parse_command(options: Any, cell: str | None) -> Command:
    """Check which flags go with which command and build the :class:`Command`.

    ``options`` is the argparse namespace of the magic's own parser.
    """
    from .export import EXPORT_TARGETS

    if options.to not in EXPORT_TARGETS:
        choices = ", ".join(repr(target) for target in EXPORT_TARGETS)
        raise UsageError(f"argument --to: invalid choice: {options.to!r} (choose from {choices})")
    if cell is not None:
        extra = (
            options.command or options.args or options.sidebar or options.result or options.overwrite
        )
        if extra or options.to != "polars":
            raise UsageError(
                "%%chatdf takes only -o VAR and --sql; put the question (or the SQL) in the "
                "cell body. The other commands are line magics: %chatdf add|export|code|..."
            )
        if not cell.strip():
            what = "SQL" if options.sql else "a question"
            raise UsageError(f"The cell is empty: write {what} below %%chatdf.")
        out = check_output_name(options.out) if options.out else None
        return Command("sql" if options.sql else "ask", out=out, body=cell.strip())

    if options.out or options.sql:
        raise UsageError("-o and --sql are for %%chatdf cells (the question or SQL in the body).")
    command = options.command
    if command is None:
        if options.args or options.result or options.to != "polars":
            raise UsageError("Give a command: %chatdf add|export|code|chart|history|usage.")
        return Command("sidebar" if options.sidebar else "show")
    if command not in COMMANDS:
        guess = difflib.get_close_matches(command, COMMANDS, n=1)
        hint = f" Did you mean '{guess[0]}'?" if guess else ""
        raise UsageError(
            f"Unknown command '{command}'.{hint} Commands: {', '.join(COMMANDS)} "
            "(%chatdf --help for more)."
        )
    if options.sidebar:
        raise UsageError("--sidebar goes alone: %chatdf --sidebar.")
    if command != "export" and options.to != "polars":
        raise UsageError("--to goes with export: %chatdf export NAME --to pandas.")
    if command not in ("export", "code") and options.result:
        raise UsageError("--result goes with export and code.")
    if command not in ("export", "chart") and options.overwrite:
        raise UsageError("--overwrite goes with export and chart: %chatdf export NAME --overwrite.")
    args = tuple(options.args)
    if command == "add":
        if not args:
            raise UsageError(
                "Nothing to add: %chatdf add [name=]SOURCE ... (URL, path or variable)."
            )
        for token in args:
            parse_assignment(token)  # fails early on 'name=' with nothing after it
    elif command == "export":
        if len(args) != 1:
            raise UsageError(
                "Give one variable name: %chatdf export NAME [--to polars|pandas|lazy]."
            )
        check_output_name(args[0])
    elif command == "chart":
        if len(args) != 1:
            raise UsageError("Give one variable name: %chatdf chart NAME.")
        check_output_name(args[0])
    elif args:
        raise UsageError(f"%chatdf {command} takes no arguments (got {' '.join(args)}).")
    return Command(
        command, args=args, to=options.to, result=options.result, overwrite=options.overwrite
    )


def check_output_name(name: str) -> str:
    """A variable name for results, or a UsageError saying what is wrong with it."""
    from .export import check_variable_name

    try:
        return check_variable_name(name)
    except ChatDFError as exc:
        raise UsageError(exc.message) from None


# -- the magics --------------------------------------------------------------------


@magics_class
class ChatDFMagics(Magics):
    """The ``%chatdf`` magics and the kernel's default chat.

    Options are traitlets settings, e.g. ``%config ChatDFMagics.default_output = "res"``.
    (``Magics`` is a traitlets ``Configurable``, so ``%config`` and the
    ``c.ChatDFMagics`` section of an IPython profile apply.)
    """

    default_output = Unicode(
        DEFAULT_OUTPUT,
        config=True,
        help="Variable that %%chatdf binds the result DataFrame to when -o is not given.",
    )
    stream_interval = Float(
        0.1,
        min=0.0,
        config=True,
        help="Seconds between updates of an answer streaming into the cell output.",
    )
    sidebar_title = Unicode(SIDEBAR_TITLE, config=True, help="Title of the sidebar tab.")

    def __init__(self, shell: InteractiveShell) -> None:
        super().__init__(shell=shell, config=shell.config)
        self.shell: InteractiveShell = shell  # never None once loaded (Magics types it Optional)
        self._chat: ChatDF | None = None
        self._placement = SidebarPlacement(self.sidebar_title)

    @validate("default_output")
    def _check_default_output(self, proposal: Any) -> str:
        from .export import check_variable_name

        try:
            return check_variable_name(proposal["value"])
        except ChatDFError as exc:
            raise TraitError(exc.message) from None

    # -- the default chat ------------------------------------------------------------

    @property
    def chat(self) -> ChatDF:
        """The kernel's default ChatDF: made on first use, made again if it was closed."""
        if self._chat is None or self._chat.comm is None:
            from .widget import ChatDF

            try:
                self._chat = ChatDF()
            except ChatDFError as exc:
                raise UsageError(exc.message) from None
        return self._chat

    def close(self) -> None:
        """Close the sidebar and the default chat (its workers and temp files)."""
        self._placement.close()
        if self._chat is not None:
            self._chat.close()
            self._chat = None

    # -- %chatdf / %%chatdf ------------------------------------------------------------

    @magic_arguments()
    @argument(
        "command", nargs="?", help="add, export, code, chart, history or usage (none: show the chat)"
    )
    @argument("args", nargs="*", help="[name=]SOURCE ... for add; NAME for export and chart")
    @argument("--sidebar", action="store_true", help="show the chat in JupyterLab's right sidebar")
    @argument(
        "-o", "--out", metavar="VAR", help="%%%%chatdf: bind the result to VAR (default _chatdf)"
    )
    @argument("--sql", action="store_true", help="%%%%chatdf: the cell body is SQL, not a question")
    @argument("--to", default="polars", metavar=TARGETS_HELP, help="export: the kind of frame")
    @argument("--result", metavar="ID", help="export, code: this result instead of the last one")
    @argument(
        "--overwrite",
        action="store_true",
        help="export, chart: replace a variable that holds something else",
    )
    @argument("-h", "--help", action="store_true", help="show this help")
    @line_cell_magic
    def chatdf(self, line: str, cell: str | None = None) -> Any:
        """Chat with your data: questions and SQL over datasets and notebook DataFrames.

        %chatdf                          show the chat (one per kernel)
        %chatdf --sidebar                show it in JupyterLab's right sidebar
        %chatdf add [name=]SOURCE ...    add URLs, paths, globs or DataFrame variables
        %chatdf export NAME [--to polars|pandas|lazy] [--result ID] [--overwrite]
        %chatdf code [--result ID]       put Polars code for the result in a new cell
        %chatdf chart NAME [--overwrite] put the last chart (an Altair chart) in a variable
        %chatdf history                  list stored conversations
        %chatdf usage                    tokens used in the last 24 hours
        %%chatdf [-o VAR]                ask the question in the cell body
        %%chatdf --sql [-o VAR]          run the SQL in the cell body

        ``chat = %chatdf`` gives the chat object itself (chat.sql, chat.export, ...).
        """
        options = self.chatdf.parser.parse_args(split_line(line))  # argparse errors are UsageErrors
        if options.help:
            print(self.chatdf.__doc__)
            return None
        command = parse_command(options, cell)
        try:
            return getattr(self, f"_{command.action}")(command)
        except ChatDFError as exc:
            raise UsageError(exc.message) from None

    # -- commands ----------------------------------------------------------------------

    def _show(self, _command: Command) -> ChatDF:
        # Returned rather than displayed: IPython shows it, and `chat = %chatdf` binds it.
        return self.chat

    def _sidebar(self, _command: Command) -> None:
        self._placement.title = self.sidebar_title
        self._placement.show(self.chat)

    def _add(self, command: Command) -> None:
        namespace = self.shell.user_ns
        chat = self.chat
        for token in command.args:
            name, source = parse_assignment(token)
            if _is_variable(source, namespace):
                dataset = chat.add_variable(source, name=name)
                print(f"Added {dataset.describe()} (follows the variable {source})")
            else:
                dataset = chat.add(source, name=name)
                print(f"Added {dataset.describe()}")

    def _export(self, command: Command) -> None:
        name = command.args[0]
        try:
            value = self.chat.export(
                name, result=command.result, to=command.to, overwrite=command.overwrite
            )
        except ExportError as exc:
            if exc.details.get("reason") != "exists":
                raise
            raise UsageError(
                f"'{name}' holds a {exc.details['holds']}; choose another name, or add "
                "--overwrite to replace it."
            ) from None
        print(f"Exported to {name}: {_describe_value(value)}")

    def _code(self, command: Command) -> None:
        self.shell.set_next_input(self.chat.code(command.result), replace=False)

    def _chart(self, command: Command) -> None:
        from .export import check_replace

        name = command.args[0]
        chart = _optional(self.chat, "last_chart", "Charts")
        if chart is None:
            raise UsageError(
                "No chart yet: ask a question a chart answers (a trend, a comparison), or "
                "make one with chat.chart(spec)."
            )
        namespace = self.shell.user_ns
        held = namespace.get(name)
        replaceable = command.overwrite or type(held).__module__.startswith("altair")
        try:
            check_replace(namespace, name, overwrite=replaceable)
        except ExportError as exc:
            raise UsageError(
                f"'{name}' holds a {exc.details['holds']}; choose another name, or add "
                "--overwrite to replace it."
            ) from None
        namespace[name] = chart
        print(f"Chart in {name}: {type(chart).__name__} (display it, or {name}.save('chart.html'))")

    def _history(self, _command: Command) -> None:
        conversations = _optional(self.chat, "conversations", "History")
        if not conversations:
            print("No conversations stored yet.")
            return
        width = max(len(item.id) for item in conversations)
        print(f"{'id':<{width}}  {'updated':<16}  {'messages':>8}  title")
        for item in conversations:
            updated = item.updated_at.astimezone().strftime("%Y-%m-%d %H:%M")
            title = item.title or "(untitled)"
            print(f"{item.id:<{width}}  {updated:<16}  {item.message_count:>8}  {title}")

    def _usage(self, _command: Command) -> None:
        usage = _optional(self.chat, "usage", "Usage")
        if usage.limit:
            print(
                f"Tokens in the last 24 hours: {usage.used:,} of {usage.limit:,} "
                f"({usage.percent:.1f}%)."
            )
        else:
            print(f"Tokens in the last 24 hours: {usage.used:,} (no limit).")
        for model, totals in usage.per_model.items():
            print(f"  {model}: {totals.input_tokens:,} in, {totals.output_tokens:,} out")
        if usage.used and usage.resets_in_seconds:
            print(f"The total next drops in {_duration(usage.resets_in_seconds)}.")

    def _sql(self, command: Command) -> None:
        from IPython.display import display

        out = self._output_name(command)
        frame = self.chat.sql(command.body)
        self.shell.user_ns[out] = frame
        display(frame)

    def _ask(self, command: Command) -> None:
        from IPython.display import Markdown, display

        chat = self.chat
        out = self._output_name(command)
        handle = display(Markdown(THINKING), display_id=True)
        try:
            answer = self._stream_into(handle, chat, command.body)
        except BaseException:
            handle.update(Markdown(""))  # the error shows below; no "Thinking…" left behind
            raise
        final = answer.text or ("" if answer.error else "_(no answer)_")
        if answer.stopped:
            final += "\n\n_(stopped)_"
        handle.update(Markdown(final))
        if answer.error is not None:
            raise UsageError(answer.error.message)
        if answer.chart_id is not None and chat.last_chart is not None:
            display(chat.last_chart)  # under the answer, above its rows, as in the widget
        if answer.result_id is not None:
            frame = chat.export(out, result=answer.result_id)
            display(frame)
            display(SQLToggle(answer.sql[-1] if answer.sql else ""))

    def _output_name(self, command: Command) -> str:
        """Where a cell's result goes; checked before the work, which would otherwise be lost."""
        from .export import check_replace

        out = command.out or self.default_output
        try:
            check_replace(self.shell.user_ns, out)
        except ExportError as exc:
            raise UsageError(
                f"'{out}' holds a {exc.details['holds']}; name the result another way: "
                "%%chatdf -o NAME."
            ) from None
        return out

    def _stream_into(self, handle: Any, chat: ChatDF, question: str) -> AnswerEvent:
        """Show the answer's text in ``handle`` as it arrives; the final AnswerEvent."""
        from IPython.display import Markdown

        text: list[str] = []
        status = THINKING
        shown = time.monotonic()
        answer = None
        # Read to the end: the stream ends once the turn is saved, so the next cell may ask.
        for event in chat.iter_events(question):
            try:
                if event.type == "answer":
                    answer = event
                elif event.type == "token":
                    text.append(event.text)
                elif event.type == "phase":
                    status = RUNNING if event.phase == "running_query" else THINKING
                if answer is None and time.monotonic() - shown >= self.stream_interval:
                    handle.update(Markdown("".join(text) or status))
                    shown = time.monotonic()
            except KeyboardInterrupt:
                chat.stop()  # as in _stream: the answer ends with what has arrived
        if answer is None:  # pragma: no cover - stream() ends with an answer or raises
            raise ChatDFError("The answer ended without a result; ask again.")
        return answer


class SQLToggle:
    """The SQL behind an answer: a collapsed ``<details>`` in HTML, the text elsewhere."""

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def _repr_html_(self) -> str:
        return (
            "<details><summary>SQL</summary>"
            f'<pre><code class="language-sql">{html.escape(self.sql)}</code></pre></details>'
        )

    def __repr__(self) -> str:
        return self.sql


# -- helpers ---------------------------------------------------------------------------


def _is_variable(source: str, namespace: dict[str, Any]) -> bool:
    """Whether ``%chatdf add`` means a notebook variable rather than a path or URL."""
    from .datasets import is_frame

    if not source.isidentifier() or source not in namespace:
        return False
    if is_frame(namespace[source]):
        return True
    if os.path.exists(source):  # a file that happens to share a variable's name
        return False
    raise UsageError(
        f"'{source}' is a {type(namespace[source]).__name__}, not a DataFrame: give a "
        "DataFrame variable, a file path or a URL."
    )


def _describe_value(value: Any) -> str:
    import polars as pl

    if isinstance(value, pl.LazyFrame):
        return "a polars LazyFrame (collect() runs the query over the current data)"
    rows, cols = value.shape
    kind = "polars" if isinstance(value, pl.DataFrame) else "pandas"
    return f"a {kind} DataFrame, {rows:,} rows × {cols} columns"


def _optional(chat: ChatDF, attribute: str, what: str) -> Any:
    if not hasattr(type(chat), attribute):
        raise UsageError(f"{what} is not available in this version of chatdf.")
    return getattr(chat, attribute)


def _duration(seconds: int) -> str:
    hours, rest = divmod(max(0, seconds), 3600)
    minutes = rest // 60
    return f"{hours} h {minutes} min" if hours else f"{max(minutes, 1)} min"


# -- the extension ----------------------------------------------------------------------


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """``%load_ext chatdf``: register the magics (and take ``%config`` settings)."""
    magics = ChatDFMagics(ipython)
    ipython.register_magics(magics)
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)  # so %config lists and sets its options


def unload_ipython_extension(ipython: InteractiveShell) -> None:
    """``%unload_ext chatdf``: close the default chat and its sidebar."""
    magics = ipython.magics_manager.registry.get("ChatDFMagics")
    if isinstance(magics, ChatDFMagics):
        magics.close()
        ipython.magics_manager.registry.pop("ChatDFMagics", None)
        ipython.magics_manager.magics["line"].pop("chatdf", None)
        ipython.magics_manager.magics["cell"].pop("chatdf", None)
        if magics in ipython.configurables:
            ipython.configurables.remove(magics)


__all__ = [
    "ChatDFMagics",
    "Command",
    "SQLToggle",
    "load_ipython_extension",
    "parse_assignment",
    "parse_command",
    "split_line",
    "unload_ipython_extension",
]
