// Bundles src/index.ts into ../chatdf/static/widget.js (+ widget.css), and the
// parts fetched on demand over the comm (src/chunks/load.ts) into their own
// self-contained files: editor.js (CodeMirror) and chart.js (vega-embed).
// hatch_build.py runs this through `npm run build`; `npm run dev` rebuilds on
// every save for anywidget's hot reload (ANYWIDGET_HMR=1 in the kernel).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");

/** @type {import("esbuild").BuildOptions} */
const options = {
  // index.ts is the UI; loader.ts the tiny `_esm` that fetches it from the kernel;
  // the chunks are separate entries (no code splitting: each is imported alone
  // from a Blob URL, where relative imports of shared chunks cannot resolve).
  entryPoints: {
    widget: "src/index.ts",
    loader: "src/loader.ts",
    editor: "src/chunks/editor.ts",
    chart: "src/chunks/chart.ts",
  },
  outdir: "../chatdf/static",
  bundle: true,
  format: "esm",
  minify: true,
  // JupyterLab 4 supports evergreen browsers only, so no down-levelling.
  target: "es2022",
  jsx: "automatic",
  jsxImportSource: "preact",
  logLevel: "warning",
};

function report(files) {
  for (const file of files) {
    const bytes = readFileSync(file);
    const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
    console.log(`${file}: ${kb(bytes.length)} minified, ${kb(gzipSync(bytes).length)} gzipped`);
  }
}

if (watch) {
  const ctx = await esbuild.context({ ...options, minify: false, sourcemap: "inline" });
  await ctx.watch();
  console.log("watching src/ for changes…");
} else {
  await esbuild.build(options);
  // The first view is loader.js + widget.js + widget.css; the chunks come when needed.
  report(["widget.js", "widget.css", "loader.js", "editor.js", "chart.js"].map((name) => `../chatdf/static/${name}`));
}
