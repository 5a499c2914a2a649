import { describe, expect, it } from "vitest";
import { RpcClient, RpcError } from "../src/rpc";
import { ModelDouble } from "./model-double";

function setup(timeoutMs = 1000) {
  const model = new ModelDouble({});
  const rpc = new RpcClient(model.asModel(), { timeoutMs });
  return { model, rpc };
}

describe("RpcClient", () => {
  it("matches replies to requests by id, whatever the order", async () => {
    const { model, rpc } = setup();
    const first = rpc.request<number>("page", { offset: 0 });
    const second = rpc.request<number>("page", { offset: 50 });
    const [a, b] = model.sent.map((m) => m.content);
    expect(a).toMatchObject({ type: "page", offset: 0 });
    expect(a.id).not.toBe(b.id);

    const buffer = new DataView(new ArrayBuffer(4));
    model.kernelSends({ id: b.id, result: 50 }, [buffer]);
    model.kernelSends({ id: a.id, result: 0 });
    await expect(second).resolves.toEqual({ result: 50, buffers: [buffer] });
    await expect(first).resolves.toEqual({ result: 0, buffers: [] });
    expect(rpc.pendingCount).toBe(0);
  });

  it("rejects with the kernel's error payload", async () => {
    const { model, rpc } = setup();
    const reply = rpc.request("sql", { sql: "DROP TABLE t" });
    const { id } = model.sent[0]!.content;
    model.kernelSends({
      id,
      error: { error_type: "validation", message: "Only SELECT queries are allowed", details: { statement: "DROP" } },
    });
    const error = await reply.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      message: "Only SELECT queries are allowed",
      errorType: "validation",
      details: { statement: "DROP" },
    });
  });

  it("times out, asks the kernel to cancel, and ignores the late reply", async () => {
    const { model, rpc } = setup(30);
    const reply = rpc.request("slow");
    const { id } = model.sent[0]!.content;
    await expect(reply).rejects.toMatchObject({ errorType: "timeout" });
    expect(model.sent[1]!.content).toEqual({ id, type: "cancel" });
    model.kernelSends({ id, result: "too late" });
    expect(rpc.pendingCount).toBe(0);
  });

  it("cancels when the caller's signal aborts", async () => {
    const { model, rpc } = setup();
    const controller = new AbortController();
    const reply = rpc.request("chat", { text: "hi" }, { signal: controller.signal });
    controller.abort();
    await expect(reply).rejects.toMatchObject({ errorType: "cancelled" });
    expect(model.sent.at(-1)!.content.type).toBe("cancel");
  });

  it("delivers events without an id to their subscribers only", () => {
    const { model, rpc } = setup();
    const seen: unknown[] = [];
    const stop = rpc.on("chat_delta", (event) => seen.push(event.text));
    model.kernelSends({ type: "chat_delta", text: "Hel" });
    model.kernelSends({ type: "other", text: "x" });
    model.kernelSends("not an object");
    stop();
    model.kernelSends({ type: "chat_delta", text: "lo" });
    expect(seen).toEqual(["Hel"]);
  });

  it("rejects pending requests and stops listening on dispose", async () => {
    const { model, rpc } = setup();
    const reply = rpc.request("page");
    rpc.dispose();
    await expect(reply).rejects.toMatchObject({ errorType: "cancelled" });
    expect(model.listenerCount("msg:custom")).toBe(0);
  });
});
