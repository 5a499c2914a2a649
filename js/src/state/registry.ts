/** One LiveStore per model, created by `initialize` and shared by all its views. */
import type { AnyModel } from "@anywidget/types";
import { rpcFor } from "../rpc";
import { LiveStore } from "./live";

const stores = new WeakMap<AnyModel, LiveStore>();

export function liveFor(model: AnyModel): LiveStore {
  let store = stores.get(model);
  if (!store) {
    store = new LiveStore(rpcFor(model));
    stores.set(model, store);
  }
  return store;
}

export function closeLive(model: AnyModel): void {
  stores.get(model)?.dispose();
  stores.delete(model);
}
