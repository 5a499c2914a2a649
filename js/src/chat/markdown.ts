/**
 * Model markdown -> safe HTML. marked renders, DOMPurify sanitizes with a
 * closed list of tags: nothing that runs script, loads a resource (images,
 * media, frames, styles, forms) or points anywhere but http(s)/mailto links,
 * which open in a new tab with `rel="noopener noreferrer"`.
 */
import DOMPurify from "dompurify";
import { Marked } from "marked";

const marked = new Marked({ gfm: true, breaks: false, async: false });

const ALLOWED_TAGS = [
  "p", "br", "hr", "strong", "em", "b", "i", "del", "s", "code", "pre", "blockquote",
  "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "a",
  "table", "thead", "tbody", "tr", "th", "td", "span", "sup", "sub", "kbd",
];
const ALLOWED_ATTR = ["href", "title", "align", "colspan", "rowspan", "start"];
const SAFE_URL = /^(?:https?:|mailto:|#)/i;

let purify: ReturnType<typeof DOMPurify> | null = null;

function sanitizer(): ReturnType<typeof DOMPurify> {
  if (purify) return purify;
  purify = DOMPurify(window);
  purify.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A") {
      const href = node.getAttribute("href") ?? "";
      if (!SAFE_URL.test(href.trim())) node.removeAttribute("href");
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
  return purify;
}

/** Sanitized HTML for `text` (markdown), safe to set as innerHTML. */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text) as string;
  return sanitizer().sanitize(html, {
    ALLOWED_TAGS,
    ALLOWED_ATTR,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
    ADD_ATTR: ["target", "rel"],
  }) as string;
}
