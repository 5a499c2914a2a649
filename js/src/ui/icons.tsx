/** A few 16px stroke icons, inline so the widget loads nothing from the network. */
const PATHS: Record<string, string> = {
  plus: "M8 3v10M3 8h10",
  x: "M4 4l8 8M12 4l-8 8",
  trash: "M3 4.5h10M6.5 4.5V3h3v1.5M4.5 4.5l.6 8.5h5.8l.6-8.5",
  pencil: "M10.5 3l2.5 2.5L6 12.5H3.5V10z",
  copy: "M5.5 5.5h7v7h-7zM3.5 10.5v-7h7",
  send: "M8 13V3M4 7l4-4 4 4",
  stop: "M4.5 4.5h7v7h-7z",
  "chevron-left": "M10 3.5L5.5 8l4.5 4.5",
  "chevron-right": "M6 3.5L10.5 8 6 12.5",
  "chevron-down": "M3.5 6L8 10.5 12.5 6",
  "chevron-up": "M3.5 10L8 5.5l4.5 4.5",
  "chevrons-left": "M8 3.5L3.5 8 8 12.5M12.5 3.5L8 8l4.5 4.5",
  "chevrons-right": "M3.5 3.5L8 8l-4.5 4.5M8 3.5L12.5 8 8 12.5",
  filter: "M2.5 3.5h11L9.3 8.5v4l-2.6 1v-5z",
  sort: "M5 6.5L8 3.5l3 3M5 9.5l3 3 3-3",
  "sort-asc": "M4.5 9.5L8 6l3.5 3.5",
  "sort-desc": "M4.5 6.5L8 10l3.5-3.5",
  refresh: "M12.5 8A4.5 4.5 0 1 1 11 4.6M12.5 3v2.5H10",
  database: "M3.5 4c0-1.1 2-2 4.5-2s4.5.9 4.5 2-2 2-4.5 2-4.5-.9-4.5-2zM3.5 4v8c0 1.1 2 2 4.5 2s4.5-.9 4.5-2V4M3.5 8c0 1.1 2 2 4.5 2s4.5-.9 4.5-2",
  chat: "M2.5 3.5h11v7.5h-6l-3 2.5V11h-2z",
  history: "M2.5 8a5.5 5.5 0 1 0 1.6-3.9M2.5 2.5v2.5H5M8 5v3.2l2 1.3",
  gear: "M8 5.5a2.5 2.5 0 1 0 0 5 2.5 2.5 0 0 0 0-5zM8 1.5v2M8 12.5v2M1.5 8h2M12.5 8h2M3.4 3.4l1.4 1.4M11.2 11.2l1.4 1.4M3.4 12.6l1.4-1.4M11.2 4.8l1.4-1.4",
  info: "M8 14.5a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM8 7.5v4M8 5v.5",
  help: "M8 14.5a6.5 6.5 0 1 0 0-13 6.5 6.5 0 0 0 0 13zM6.2 6.2a1.9 1.9 0 1 1 2.6 1.8c-.5.2-.8.6-.8 1.1v.4M8 11.3v.4",
  play: "M5 3.5v9l7-4.5z",
  chart: "M2.5 13.5h11M4.5 11V8M8 11V4M11.5 11V6.5",
  download: "M8 2.5v8M4.5 7L8 10.5 11.5 7M3 13.5h10",
  code: "M6 4.5L2.5 8 6 11.5M10 4.5L13.5 8 10 11.5",
  user: "M8 8a2.8 2.8 0 1 0 0-5.6A2.8 2.8 0 0 0 8 8zM2.5 14c.6-2.6 2.8-4 5.5-4s4.9 1.4 5.5 4",
  "panel-left": "M2.5 3h11v10h-11zM6 3v10",
  "panel-right": "M2.5 3h11v10h-11zM10 3v10",
  "arrow-down": "M8 3v10M4 9l4 4 4-4",
  sparkle: "M8 2l1.4 4.6L14 8l-4.6 1.4L8 14l-1.4-4.6L2 8l4.6-1.4z",
  expand: "M9.5 2.5h4v4M13.5 2.5L9 7M6.5 13.5h-4v-4M2.5 13.5L7 9",
};

export function Icon({ name, label }: { name: string; label?: string }) {
  return (
    <svg
      class="chatdf-icon"
      viewBox="0 0 16 16"
      width="16"
      height="16"
      fill="none"
      stroke="currentColor"
      stroke-width="1.5"
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden={label ? undefined : "true"}
      role={label ? "img" : undefined}
      aria-label={label}
      focusable="false"
    >
      <path d={PATHS[name] ?? ""} />
    </svg>
  );
}
