// @vitest-environment jsdom
// jsdom, not happy-dom: DOMPurify relies on DOM details happy-dom does not implement.
import { describe, expect, it } from "vitest";
import { renderMarkdown } from "../src/chat/markdown";

describe("markdown", () => {
  it("drops scripts, handlers, images and unsafe links; links open safely", () => {
    const html = renderMarkdown(
      '[ok](https://example.org) [bad](javascript:alert(1)) <script>window.x=1</script> <a href="https://a.b" onclick="x()">a</a> ![img](https://evil/x.png) <iframe srcdoc="<script>parent.x=1</script>"></iframe> <style>*{}</style> <form><input></form>',
    );
    const div = document.createElement("div");
    div.innerHTML = html;
    const links = [...div.querySelectorAll("a")];
    expect(links.map((a) => a.getAttribute("href"))).toEqual(["https://example.org", null, "https://a.b"]);
    expect(links.every((a) => a.getAttribute("rel") === "noopener noreferrer" && a.getAttribute("target") === "_blank")).toBe(true);
    expect(div.querySelector("script, img, iframe, style, form, input, [onclick]")).toBeNull();
  });
});

describe("model answers", () => {
  it("keep tables, code and lists", () => {
    const div = document.createElement("div");
    div.innerHTML = renderMarkdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n```sql\nSELECT 1\n```\n\n- one\n- two");
    expect(div.querySelectorAll("td")).toHaveLength(2);
    expect(div.querySelector("pre code")!.textContent).toBe("SELECT 1\n");
    expect(div.querySelectorAll("li")).toHaveLength(2);
  });
});
