/**
 * Vega-Lite `config` from the widget's own CSS variables, so a chart follows
 * JupyterLab's light, dark and high-contrast themes (and the widget's pinned
 * light/dark palettes) the way the rest of the widget does.
 */

function luminance(color: string): number | null {
  const m = color.match(/rgba?\(\s*([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)/);
  if (!m) return null;
  const [r = 0, g = 0, b = 0] = m.slice(1, 4).map((v) => {
    const c = Number(v) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/** Whether the widget's background at `el` is dark. */
export function isDark(el: HTMLElement): boolean {
  const scope = (el.closest(".chatdf") as HTMLElement | null) ?? el;
  const lum = luminance(getComputedStyle(scope).backgroundColor);
  return lum !== null && lum < 0.2;
}

/**
 * A colour variable as `rgb(r, g, b)`. The widget mixes some colours with
 * `color-mix()`, which a custom property keeps unresolved and SVG's `fill`
 * attribute does not understand (it draws black): the probe's computed colour
 * painted on a 1×1 canvas gives plain sRGB bytes whatever the serialization.
 */
function resolveColor(el: HTMLElement, name: string, fallback: string): string {
  const raw = getComputedStyle(el).getPropertyValue(name).trim();
  if (!raw) return fallback;
  if (/^(#|rgb)/.test(raw)) return raw;
  const probe = document.createElement("span");
  probe.style.cssText = `position:absolute;visibility:hidden;color:var(${name})`;
  el.appendChild(probe);
  const computed = getComputedStyle(probe).color;
  probe.remove();
  const ctx = document.createElement("canvas").getContext("2d");
  if (!ctx) return fallback;
  ctx.fillStyle = computed;
  ctx.fillRect(0, 0, 1, 1);
  const [r = 0, g = 0, b = 0] = ctx.getImageData(0, 0, 1, 1).data;
  return `rgb(${r}, ${g}, ${b})`;
}

export function chartConfig(el: HTMLElement): Record<string, unknown> {
  const css = getComputedStyle(el);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  const dark = isDark(el);
  const fg = resolveColor(el, "--chatdf-fg", dark ? "#e6e6e6" : "#1f2328");
  const muted = resolveColor(el, "--chatdf-fg-muted", dark ? "#b0b0b0" : "#57606a");
  const border = resolveColor(el, "--chatdf-border", dark ? "#5c5c5c" : "#c4c9cf");
  const grid = resolveColor(el, "--chatdf-border-soft", dark ? "#3a3a3a" : "#dde1e5");
  const bg = getComputedStyle((el.closest(".chatdf") as HTMLElement | null) ?? el).backgroundColor || (dark ? "#111111" : "#ffffff");
  const font = v("--chatdf-font", "sans-serif");
  // Vega's default blue is 3.6:1 on JupyterLab's dark background; a lighter one reads better.
  const single = dark ? "#6fa8dc" : "#4c78a8";
  const label = { labelColor: muted, titleColor: fg, labelFont: font, titleFont: font };
  return {
    background: bg,
    font,
    padding: 4,
    mark: { tooltip: true, color: single },
    axis: { ...label, domainColor: border, tickColor: border, gridColor: grid },
    legend: { ...label },
    header: { ...label },
    title: { color: fg, subtitleColor: muted, font, anchor: "start", fontSize: 13 },
    view: { stroke: null },
  };
}
