/** What every component of one view can reach: the model, its requests, its live turns. */
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import type { Model } from "./model";
import type { Api } from "./requests";
import type { LiveStore } from "./state/live";

export interface WidgetContext {
  model: Model;
  api: Api;
  live: LiveStore;
  /** Show a short message at the bottom of the widget (errors of background actions). */
  notify: (text: string, kind?: "info" | "error") => void;
}

export const Ctx = createContext<WidgetContext | null>(null);

export function useWidget(): WidgetContext {
  const ctx = useContext(Ctx);
  if (!ctx) throw new Error("chatdf: component rendered outside the widget");
  return ctx;
}
