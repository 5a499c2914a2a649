/**
 * Chart requests. A chart's data never enters synced state: the kernel sends
 * the whole Vega-Lite spec, data inline, as UTF-8 JSON in one buffer (at most
 * CHATDF_CHART_MAX_ROWS rows, reduced in the kernel for large results).
 */
import type { Api } from "../requests";
import type { Reply } from "../rpc";

/** The JSON part of a chart reply (`ChartRecord.summary()` plus the spec without data). */
export interface ChartHeader {
  id: string;
  title: string | null;
  mark: string | null;
  rows: number;
  source_rows: number;
  result_id: string | null;
  reduced: boolean;
  /** The checked spec without its data: what "Edit spec" shows. */
  spec: Record<string, unknown>;
  /** Bytes of the buffer. */
  bytes: number;
}

export interface DrawnChart {
  header: ChartHeader;
  /** The complete spec, data inline, ready to embed. */
  spec: Record<string, unknown>;
}

function decode(reply: Reply<ChartHeader>): DrawnChart {
  const [buffer] = reply.buffers;
  if (!buffer) throw new Error("The kernel sent a chart without its data.");
  const text = new TextDecoder().decode(buffer);
  return { header: reply.result, spec: JSON.parse(text) as Record<string, unknown> };
}

/** A chart the kernel keeps (the model's, by the id in the message). */
export async function fetchChart(api: Api, chartId: string): Promise<DrawnChart> {
  return decode(await api.chart(chartId));
}

/** The user's own spec over a kept result, checked and bound by the kernel (no model call). */
export async function drawChart(
  api: Api,
  resultId: string,
  spec: Record<string, unknown>,
  messageId: string | null = null,
): Promise<DrawnChart> {
  return decode(await api.drawChart(resultId, spec, messageId));
}
