/**
 * On-demand chunks: heavy parts of the UI (the code editor, the chart renderer)
 * are separate files in chatdf/static/ that the kernel sends over the comm the
 * first time a view needs them, as js/src/loader.ts does for the main bundle.
 * Each chunk is a self-contained ES module imported from a Blob URL; it is
 * fetched once per page and shared by every widget on it.
 */
import type { EditorHandle, EditorOptions } from "./editor";
import type { ChartHandle, ChartOptions } from "./chart";
import type { RpcClient } from "../rpc";

export interface EditorChunk {
  createEditor(parent: HTMLElement, options: EditorOptions): EditorHandle;
}
export interface ChartChunk {
  renderChart(host: HTMLElement, spec: Record<string, unknown>, options: ChartOptions): Promise<ChartHandle>;
}
interface Chunks {
  editor: EditorChunk;
  chart: ChartChunk;
}

/** Vega is about a megabyte: give a slow kernel time. */
const TIMEOUT_MS = 60_000;
const loaded = new Map<keyof Chunks, Promise<unknown>>();

export function loadChunk<K extends keyof Chunks>(rpc: RpcClient, name: K): Promise<Chunks[K]> {
  let chunk = loaded.get(name);
  if (!chunk) {
    chunk = rpc
      .request<{ js: string; css: string }>("bundle", { chunk: name }, { timeoutMs: TIMEOUT_MS })
      .then(async ({ result }) => {
        const url = URL.createObjectURL(new Blob([result.js], { type: "text/javascript" }));
        try {
          return await import(/* @vite-ignore */ url);
        } finally {
          URL.revokeObjectURL(url);
        }
      });
    // A failed fetch (kernel busy, restarted) is tried again next time.
    chunk.catch(() => loaded.delete(name));
    loaded.set(name, chunk);
  }
  return chunk as Promise<Chunks[K]>;
}
