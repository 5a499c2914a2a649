/**
 * The whole widget: three panels in a wide cell (history | chat | datasets),
 * tabs when the container is narrower than 700 px (the JupyterLab sidebar).
 * Side panels collapse; which ones, and the tab, go to `_layout` so a saved
 * notebook reopens the same way. `theme` picks JupyterLab's palette or a
 * fixed one (styles.css).
 */
import { render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { ChatPanel } from "./chat/ChatPanel";
import { Ctx, type WidgetContext } from "./context";
import { DatasetPanel } from "./datasets/DatasetPanel";
import { Sidebar } from "./history/Sidebar";
import { UsageBar } from "./history/UsageBar";
import { useTrait } from "./hooks/useTrait";
import type { Layout, Model } from "./model";
import { Api } from "./requests";
import { rpcFor } from "./rpc";
import { liveFor } from "./state/registry";
import { Icon } from "./ui/icons";

export const NARROW_PX = 700;
/** The JupyterLab sidebar's default width and below: tabs drop their icons to fit one row. */
export const TIGHT_PX = 320;

interface Toast {
  id: number;
  text: string;
  kind: "info" | "error";
}

/** Below this the side panels get slimmer (a notebook next to JupyterLab's file browser). */
export const MEDIUM_PX = 1000;

/** Default height in a cell; the person can drag it (kept in `_layout.height`). */
export const CELL_HEIGHT_PX = 680;

/**
 * In JupyterLab's side panels (sidecar) the widget fills the panel's height;
 * null in a notebook cell. Follows the panel as it resizes.
 */
function usePanelHeight(el: { current: HTMLElement | null }): number | null {
  const [height, setHeight] = useState<number | null>(null);
  useEffect(() => {
    const node = el.current;
    const panel = node?.closest<HTMLElement>(".jupyterlab-sidecar, .jp-SidePanel, #jp-right-stack > .lm-Widget");
    if (!node || !panel || typeof ResizeObserver === "undefined") return;
    const measure = () => {
      const top = node.getBoundingClientRect().top - panel.getBoundingClientRect().top + panel.scrollTop;
      // What is left below the widget's top, less a little air for the output area's padding.
      setHeight(Math.max(320, Math.floor(panel.clientHeight - top - 8)));
    };
    const observer = new ResizeObserver(measure);
    observer.observe(panel);
    measure();
    return () => observer.disconnect();
  }, []);
  return height;
}

/** The width of `el`, following resizes (Infinity until measured). */
function useWidth(el: { current: HTMLElement | null }): number {
  const [width, setWidth] = useState(Number.POSITIVE_INFINITY);
  useEffect(() => {
    const node = el.current;
    if (!node || typeof ResizeObserver === "undefined") return;
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(entry.contentRect.width);
    });
    observer.observe(node);
    return () => observer.disconnect();
  }, []);
  return width;
}

export function App({ model }: { model: Model }) {
  const theme = useTrait(model, "theme") ?? "system";
  const datasets = useTrait(model, "_datasets") ?? [];
  const max = useTrait(model, "_max_datasets") ?? 20;
  const layout = useTrait(model, "_layout") ?? {};
  const root = useRef<HTMLDivElement>(null);
  const width = useWidth(root);
  const narrow = width < NARROW_PX;
  const medium = width < MEDIUM_PX;
  const [toasts, setToasts] = useState<Toast[]>([]);
  const panelHeight = usePanelHeight(root);
  const usage = useTrait(model, "_usage") ?? {};
  const busy = useTrait(model, "_busy") ?? false;
  const [settingsOpen, setSettingsOpen] = useState(false);
  const heightRef = useRef<number>(CELL_HEIGHT_PX);
  heightRef.current = panelHeight ?? layout.height ?? CELL_HEIGHT_PX;

  const notify = useCallback((text: string, kind: "info" | "error" = "info") => {
    const id = Date.now() + Math.random();
    setToasts((list) => [...list.slice(-2), { id, text, kind }]);
    setTimeout(() => setToasts((list) => list.filter((t) => t.id !== id)), kind === "error" ? 8000 : 3000);
  }, []);

  const ctx = useMemo<WidgetContext>(() => {
    const rpc = rpcFor(model);
    return { model, api: new Api(rpc), live: liveFor(model), notify };
  }, [model]);

  // History and usage live in the kernel's store: ask for them once per view.
  useEffect(() => {
    ctx.api.sync().catch(() => {});
  }, [ctx]);

  function setLayout(change: Partial<Layout>) {
    model.set("_layout", { ...model.get("_layout"), ...change });
    model.save_changes();
  }

  // Keys typed into our fields are ours. In a notebook cell JupyterLab's notebook also
  // handles keydown (Enter enters edit mode, and the form never submits); the
  // data-lm-suppress-shortcuts attribute only covers Lumino's command shortcuts.
  useEffect(() => {
    const node = root.current;
    if (!node) return;
    const keep = (e: KeyboardEvent) => {
      const target = e.target as HTMLElement | null;
      if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) e.stopPropagation();
    };
    node.addEventListener("keydown", keep);
    return () => node.removeEventListener("keydown", keep);
  }, []);

  // In a cell the corner drags the height (CSS resize); keep it so the notebook reopens that way.
  useEffect(() => {
    const node = root.current;
    if (!node || panelHeight !== null || typeof ResizeObserver === "undefined") return;
    let timer = 0;
    const observer = new ResizeObserver(() => {
      const h = Math.round(node.getBoundingClientRect().height);
      if (Math.abs(h - heightRef.current) < 4) return;
      clearTimeout(timer);
      timer = window.setTimeout(() => setLayout({ height: h }), 300);
    });
    observer.observe(node);
    return () => {
      observer.disconnect();
      clearTimeout(timer);
    };
  }, [panelHeight]);

  const tab = layout.tab ?? "chat";
  const leftCollapsed = !narrow && !!layout.left;
  const rightCollapsed = !narrow && !!layout.right;
  const ready = datasets.filter((d) => d.status === "ready").length;

  return (
    <Ctx.Provider value={ctx}>
      <div
        ref={root}
        class={`chatdf${narrow ? " chatdf--narrow" : ""}${panelHeight !== null ? " chatdf--panel" : ""}${width < TIGHT_PX ? " chatdf--tight" : ""}`}
        data-theme={theme}
        data-lm-suppress-shortcuts="true"
        style={{
          "--chatdf-left": leftCollapsed ? "40px" : medium ? "196px" : "232px",
          "--chatdf-right": rightCollapsed ? "40px" : medium ? "236px" : "284px",
          height: `${heightRef.current}px`,
        }}
      >
        {narrow ? (
          <div class="chatdf-tabbar">
          <div class="chatdf-tabs" role="tablist" aria-label="Panels">
            {(
              [
                ["chat", "Chat", "chat"],
                ["datasets", `Datasets (${ready})`, "database"],
                ["history", "History", "history"],
              ] as const
            ).map(([id, label, icon]) => (
              <button
                key={id}
                type="button"
                role="tab"
                class="chatdf-tab"
                aria-selected={tab === id}
                onClick={() => setLayout({ tab: id })}
              >
                <Icon name={icon} /> {label}
              </button>
            ))}
          </div>
{/* New chat and Settings from every tab; History has its own. */}
            {tab !== "history" ? (
                        <span class="chatdf-tabs__tools">
              <button
                type="button"
                class="chatdf-icon-btn"
                aria-label="New chat"
                title="New chat"
                disabled={busy}
                onClick={() => {
                  ctx.api.newChat().catch((err) => notify(String(err?.message ?? err), "error"));
                  setLayout({ tab: "chat" });
                }}
              >
                <Icon name="plus" />
              </button>
              <button
                type="button"
                class="chatdf-icon-btn"
                aria-label="Settings"
                title="Settings"
                onClick={() => {
                  setSettingsOpen(true);
                  setLayout({ tab: "history" });
                }}
              >
                <Icon name="gear" />
              </button>
            </span>
            ) : null}
          </div>
        ) : null}
        {narrow && tab !== "history" && (usage.warning || usage.exhausted) ? (
          <div class="chatdf-usage-banner">
            <UsageBar usage={usage} />
          </div>
        ) : null}
        <div class="chatdf-layout">
          {(!narrow || tab === "history") && (
            <aside class={`chatdf-left${leftCollapsed ? " chatdf-collapsed" : ""}`}>
              {!narrow ? (
                <button
                  type="button"
                  class="chatdf-icon-btn chatdf-collapse"
                  aria-label={leftCollapsed ? "Show history panel" : "Hide history panel"}
                  aria-expanded={!leftCollapsed}
                  onClick={() => setLayout({ left: !layout.left })}
                >
                  <Icon name="panel-left" />
                </button>
              ) : null}
              {leftCollapsed ? null : <Sidebar settingsOpen={narrow && settingsOpen} />}
            </aside>
          )}
          {(!narrow || tab === "chat") && (
            <main class="chatdf-center">
              <ChatPanel narrow={narrow} onShowDatasets={() => setLayout({ tab: "datasets" })} />
            </main>
          )}
          {(!narrow || tab === "datasets") && (
            <aside class={`chatdf-right${rightCollapsed ? " chatdf-collapsed" : ""}`}>
              {!narrow ? (
                <button
                  type="button"
                  class="chatdf-icon-btn chatdf-collapse"
                  aria-label={rightCollapsed ? "Show datasets panel" : "Hide datasets panel"}
                  aria-expanded={!rightCollapsed}
                  onClick={() => setLayout({ right: !layout.right })}
                >
                  <Icon name="panel-right" />
                </button>
              ) : null}
              {rightCollapsed ? null : <DatasetPanel datasets={datasets} max={max} />}
            </aside>
          )}
        </div>
        <div class="chatdf-toasts" aria-live="polite">
          {toasts.map((t) => (
            <p key={t.id} class={`chatdf-toast chatdf-toast--${t.kind}`} role={t.kind === "error" ? "alert" : "status"}>
              {t.text}
            </p>
          ))}
        </div>
      </div>
    </Ctx.Provider>
  );
}

/** Render the app into `el`; the returned function unmounts it. */
export function mountApp(el: HTMLElement, model: Model): () => void {
  render(<App model={model} />, el);
  return () => render(null, el);
}
