/**
 * Chart requests go through the typed `Api` (fields from the kernel's pydantic models in
 * `wire.gen.ts`); the spec comes back as JSON in the reply's buffer.
 */
import { describe, expect, it } from "vitest";
import { drawChart, fetchChart } from "../src/chart/api";
import { Api } from "../src/requests";
import { RpcClient } from "../src/rpc";
import type { RequestParams } from "../src/wire.gen";
import { ModelDouble } from "./model-double";

function setup() {
  const model = new ModelDouble({});
  return { model, api: new Api(new RpcClient(model.asModel(), { timeoutMs: 1000 })) };
}

const header = { id: "c1", title: "Petals", mark: "bar", rows: 2, source_rows: 2, result_id: "r1", reduced: false, spec: {}, bytes: 0 };
const spec = { mark: "bar", data: { values: [{ a: 1 }, { a: 2 }] } };

function reply(model: ReturnType<typeof setup>["model"], body: unknown) {
  const { id } = model.sent.at(-1)!.content;
  const bytes = new TextEncoder().encode(JSON.stringify(body));
  model.kernelSends({ id, result: header }, [new DataView(bytes.buffer)]);
}

describe("chart requests", () => {
  it("draw_chart sends the result id and spec, and decodes the spec with its data", async () => {
    const { model, api } = setup();
    const drawn = drawChart(api, "r1", { mark: "bar" });
    expect(model.sent.at(-1)!.content).toMatchObject({ type: "draw_chart", result_id: "r1", spec: { mark: "bar" } });
    reply(model, spec);
    await expect(drawn).resolves.toEqual({ header, spec });
  });

  it("chart asks for a kept chart by id; a reply without its buffer is an error", async () => {
    const { model, api } = setup();
    const fetched = fetchChart(api, "c1");
    expect(model.sent.at(-1)!.content).toMatchObject({ type: "chart", chart_id: "c1" });
    const { id } = model.sent.at(-1)!.content;
    model.kernelSends({ id, result: header });
    await expect(fetched).rejects.toThrow("without its data");
  });

  it("the kernel's field names are the only ones that compile", () => {
    // @ts-expect-error: draw_chart takes `result_id`, not `result`
    const wrong: RequestParams<"draw_chart"> = { result: "r1", spec: {} };
    const right: RequestParams<"draw_chart"> = { result_id: "r1", spec: {} };
    expect(Object.keys(wrong)).not.toEqual(Object.keys(right));
  });
});
