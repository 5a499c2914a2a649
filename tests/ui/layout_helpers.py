"""Shared pieces of the layout tests: WCAG contrast of every text, the sidebar, JupyterLab's theme."""

from __future__ import annotations

from typing import Any

from .harness import expect

# Every visible text in `root` (and open dialogs): its WCAG 2 contrast against the
# background actually under it (nearest opaque ancestor), with opacity blended in.
# Placeholders are measured too. Returns the ones below `min` as {text, ratio, where}.
LOW_CONTRAST_JS = """([root, min]) => {
  const parse = (c) => {
    const m = c.match(/[\\d.]+/g).map(Number);
    if (c.startsWith("color(")) return [m[0] * 255, m[1] * 255, m[2] * 255, m.length > 3 ? m[3] : 1];
    return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1];
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const over = (top, under) => [0, 1, 2].map((i) => top[i] * top[3] + under[i] * (1 - top[3]));
  const background = (el) => {
    const layers = [];
    for (let n = el; n; n = n.parentElement) {
      const bg = parse(getComputedStyle(n).backgroundColor);
      if (bg[3] > 0) layers.push(bg);
      if (bg[3] >= 1) break;
    }
    let base = [255, 255, 255];
    for (const layer of layers.reverse()) base = over(layer, base);
    return base;
  };
  const opacity = (el) => { let o = 1; for (let n = el; n; n = n.parentElement) o *= Number(getComputedStyle(n).opacity); return o; };
  const ratio = (fg, bg) => { const [a, b] = [lum(fg), lum(bg)]; return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05); };
  const where = (el) => (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : el.tagName.toLowerCase());
  const bad = [];
  const scopes = [root, ...document.querySelectorAll("dialog.chatdf-dialog[open]")];
  for (const scope of scopes) {
    for (const el of scope.querySelectorAll("*")) {
      // Rendered and on screen (closed <details> content is not).
      if (!el.checkVisibility({ visibilityProperty: true, contentVisibilityAuto: true })) continue;
      if (el.closest("svg")) continue;
      const bg = background(el);
      const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim()).join(" ");
      if (own) {
        const fg = parse(getComputedStyle(el).color);
        const r = ratio(over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg), bg);
        if (r < min) bad.push({ text: own.slice(0, 40), ratio: Math.round(r * 100) / 100, where: where(el) });
      }
      if ((el.tagName === "INPUT" || el.tagName === "TEXTAREA") && el.placeholder && !el.value) {
        const fg = parse(getComputedStyle(el, "::placeholder").color);
        const r = ratio(over([fg[0], fg[1], fg[2], fg[3] * opacity(el)], bg), bg);
        if (r < min) bad.push({ text: "placeholder: " + el.placeholder.slice(0, 30), ratio: Math.round(r * 100) / 100, where: where(el) });
      }
    }
  }
  return bad;
}"""


def low_contrast(widget: Any, minimum: float = 4.5) -> list[dict[str, Any]]:
    """Texts of the widget below ``minimum`` contrast, measured from computed style."""
    return widget.page.evaluate(LOW_CONTRAST_JS, [widget.element_handle(), minimum])


SIDECAR_CELL = """from sidecar import Sidecar
from IPython.display import display
side = Sidecar(title="chatdf", anchor="right")
with side:
    display(chat)"""


def sidebar_widget(notebook: Any) -> Any:
    """Show ``chat`` in JupyterLab's right sidebar (at its default width); its ``.chatdf``."""
    notebook.run_cell(SIDECAR_CELL)
    widget = notebook.page.locator("#jp-right-stack .jupyterlab-sidecar .chatdf").first
    expect(widget).to_be_visible()
    return widget


def right_panel_width(page: Any) -> float:
    return page.locator("#jp-right-stack").bounding_box()["width"]


def set_right_panel_width(page: Any, width: int) -> None:
    """Drag the split handle left of the right sidebar until the sidebar is ``width`` px wide."""
    panel = page.locator("#jp-right-stack").bounding_box()
    handle_x = panel["x"] - 2
    y = panel["y"] + panel["height"] / 2
    page.mouse.move(handle_x, y)
    page.mouse.down()
    page.mouse.move(handle_x - (width - panel["width"]), y, steps=8)
    page.mouse.up()
    page.wait_for_timeout(300)


def set_lab_theme(page: Any, name: str) -> None:
    """Settings › Theme › ``name`` ("JupyterLab Light" / "JupyterLab Dark")."""
    page.locator('.lm-MenuBar-itemLabel:text-is("Settings")').click()
    page.locator('.lm-Menu-itemLabel:text-is("Theme")').click()
    page.locator(f'.lm-Menu-itemLabel:text-is("{name}")').click()
    dark = name.endswith("Dark")
    page.wait_for_function(
        "(dark) => document.body.dataset.jpThemeLight === (dark ? 'false' : 'true')", arg=dark, timeout=30_000
    )
    page.wait_for_timeout(500)  # the theme's CSS variables settle
