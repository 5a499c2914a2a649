/** The left panel: new chat, history, settings, usage and the account area. */
import { useState } from "preact/hooks";
import { useWidget } from "../context";
import { useTrait } from "../hooks/useTrait";
import type { Theme } from "../model";
import { ConfirmDialog, Dialog } from "../ui/Dialog";
import { Icon } from "../ui/icons";
import { AccountArea } from "./AccountArea";
import { HistoryList } from "./HistoryList";
import { UsageBar } from "./UsageBar";

/** `settingsOpen`: the narrow layout's Settings button opens the menu directly. */
export function Sidebar({ settingsOpen = false }: { settingsOpen?: boolean }) {
  const { model, api, notify } = useWidget();
  const items = useTrait(model, "_conversations") ?? [];
  const conversation = useTrait(model, "_conversation") ?? {};
  const usage = useTrait(model, "_usage") ?? {};
  const theme = useTrait(model, "theme") ?? "system";
  const busy = useTrait(model, "_busy") ?? false;
  const [dialog, setDialog] = useState<"about" | "help" | "clear" | null>(null);
  const fail = (err: unknown) => notify(err instanceof Error ? err.message : String(err), "error");

  function setTheme(value: Theme) {
    model.set("theme", value);
    model.save_changes();
  }

  return (
    <nav class="chatdf-panel chatdf-sidebar" aria-label="Conversations and settings">
      <button type="button" class="chatdf-btn chatdf-btn--primary chatdf-new" disabled={busy} onClick={() => api.newChat().catch(fail)}>
        <Icon name="plus" /> New chat
      </button>
      <h3 class="chatdf-panel__title">History</h3>
      <div class="chatdf-sidebar__history">
        <HistoryList items={items} currentId={conversation.id} />
      </div>
      <div class="chatdf-sidebar__bottom">
        <UsageBar usage={usage} />
        <details class="chatdf-settings" open={settingsOpen}>
          <summary>
            <Icon name="gear" /> Settings
          </summary>
          <label class="chatdf-field">
            <span class="chatdf-field__label">Theme</span>
            <select class="chatdf-input" value={theme} onChange={(e) => setTheme(e.currentTarget.value as Theme)} aria-label="Theme">
              <option value="system">System (follow JupyterLab)</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
          <button type="button" class="chatdf-btn chatdf-btn--danger-quiet" disabled={!items.length} onClick={() => setDialog("clear")}>
            <Icon name="trash" /> Clear all history
          </button>
          <div class="chatdf-settings__links">
            <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" onClick={() => setDialog("about")}>
              <Icon name="info" /> About
            </button>
            <button type="button" class="chatdf-btn chatdf-btn--quiet chatdf-btn--small" onClick={() => setDialog("help")}>
              <Icon name="help" /> Help
            </button>
          </div>
        </details>
        <AccountArea />
      </div>
      {dialog === "clear" ? (
        <ConfirmDialog
          title="Clear all history"
          message="Delete every stored conversation and its messages? Datasets stay loaded. This cannot be undone."
          confirmLabel="Clear history"
          onConfirm={() => api.clearHistory().catch(fail)}
          onClose={() => setDialog(null)}
        />
      ) : null}
      {dialog === "about" ? (
        <Dialog title="About chatdf" onClose={() => setDialog(null)} class="chatdf-dialog--small">
          <p>
            chatdf lets you ask questions about parquet and CSV files and notebook DataFrames in plain English. Google Gemini writes read-only
            SQL, which runs with Polars in separate worker processes on your machine; only schemas and small result samples are sent to the
            model.
          </p>
          <p>History and token usage are stored locally in SQLite. Your API key is never stored.</p>
        </Dialog>
      ) : null}
      {dialog === "help" ? (
        <Dialog title="Help" onClose={() => setDialog(null)} class="chatdf-dialog--small">
          <ul class="chatdf-help">
            <li>Add data: paste a parquet/CSV URL or path in Datasets, or run <code>chat.add(df)</code>.</li>
            <li>Ask: type a question and press Enter (Shift+Enter for a new line). Press the stop button to stop an answer.</li>
            <li>Results: click a column header to sort (ascending, descending, off); drag a header edge to resize, double-click to fit.</li>
            <li>SQL: “Show SQL” under an answer shows the query; edit it and press Run (Ctrl+Enter) to see new rows.</li>
            <li>Python: <code>chat.ask("…")</code>, <code>chat.sql("SELECT …")</code> and <code>chat.conversations</code> work without the widget.</li>
          </ul>
        </Dialog>
      ) : null}
    </nav>
  );
}
