/** The anywidget entry point: `initialize` owns per-model state, `render` one view. */
import type { Initialize, Render } from "@anywidget/types";
import { mountApp } from "./app";
import type { WidgetModel } from "./model";
import { closeRpc, rpcFor } from "./rpc";
import { closeLive, liveFor } from "./state/registry";
import "./styles.css";

const initialize: Initialize<WidgetModel> = ({ model }) => {
  rpcFor(model);
  liveFor(model);
  return () => {
    closeLive(model);
    closeRpc(model);
  };
};

const render: Render<WidgetModel> = ({ model, el }) => mountApp(el, model);

export default { initialize, render };
