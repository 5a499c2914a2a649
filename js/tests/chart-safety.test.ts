// @vitest-environment jsdom
/**
 * The chart chunk treats a spec as data (js/src/chunks/chart.ts). The kernel
 * checks every spec first; these are the browser's own guards, for a spec that
 * got past it (a tampered history file, say).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { renderChart } from "../src/chunks/chart";

const options = { config: {}, width: 300, height: 200 };
const values = [
  { city: "Oslo", n: 3 },
  { city: "<img src=x onerror=alert(1)>", n: 1 },
];

afterEach(() => {
  vi.restoreAllMocks();
  document.body.innerHTML = "";
});

function host(): HTMLElement {
  const el = document.createElement("div");
  document.body.appendChild(el);
  return el;
}

describe("the chart chunk", () => {
  it("draws without eval: vega's expressions run in its interpreter", async () => {
    const spy = vi.spyOn(globalThis, "Function");
    const chart = await renderChart(
      host(),
      {
        data: { values },
        transform: [{ calculate: "datum.n * 2 + length(datum.city)", as: "score" }, { filter: "datum.score > 0" }],
        mark: "bar",
        encoding: { x: { field: "city", type: "nominal" }, y: { field: "score", type: "quantitative" } },
      },
      options,
    );
    expect(chart.marks()).toBe(2);
    expect(spy).not.toHaveBeenCalled();
    chart.destroy();
  });

  it("fetches nothing a spec names: data URLs, images, links", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch").mockRejectedValue(new Error("no network in tests"));
    const el = host();
    await expect(
      renderChart(el, { data: { url: "http://127.0.0.1:9/steal.csv" }, mark: "point", encoding: { x: { field: "a", type: "quantitative" } } }, options).then((c) => c.marks()),
    ).resolves.toBe(0);
    const chart = await renderChart(
      host(),
      {
        data: { values: [{ u: "http://127.0.0.1:9/pixel.png" }] },
        mark: { type: "image", width: 20, height: 20 },
        encoding: { url: { field: "u", type: "nominal" }, href: { value: "javascript:alert(1)" } },
      },
      options,
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(document.querySelector("image[href^='http'], img")).toBeNull();
    chart.destroy();
  });

  it("ignores the options a spec's usermeta would set, and tooltips are text", async () => {
    const el = host();
    const chart = await renderChart(
      el,
      {
        usermeta: { embedOptions: { actions: true, ast: false, loader: { baseURL: "http://127.0.0.1:9/" } } },
        data: { values },
        mark: { type: "bar", tooltip: true },
        encoding: { x: { field: "city", type: "nominal" }, y: { field: "n", type: "quantitative" } },
      },
      options,
    );
    expect(el.querySelector(".vega-actions")).toBeNull();
    const bar = el.querySelectorAll("g.mark-rect path")[1]!;
    bar.dispatchEvent(new MouseEvent("mousemove", { bubbles: true, clientX: 5, clientY: 5 }));
    bar.dispatchEvent(new MouseEvent("pointermove", { bubbles: true, clientX: 5, clientY: 5 }));
    const tooltip = el.querySelector(".chatdf-chart__tooltip") as HTMLElement;
    await vi.waitFor(() => expect(tooltip.hidden).toBe(false));
    expect(tooltip.textContent).toContain("<img src=x onerror=alert(1)>");
    expect(tooltip.querySelector("img")).toBeNull();
    chart.destroy();
  });
});
