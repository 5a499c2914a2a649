/** "Chart this": mark, x, y and colour pickers over a result's columns; no model involved. */
import type { Choice, Column, Mark } from "./suggest";
import { kindOf, MARKS } from "./suggest";

interface Props {
  columns: Column[];
  choice: Choice;
  onChange: (choice: Choice) => void;
}

function Picker({ label, value, options, onChange, none }: { label: string; value: string | null; options: string[]; onChange: (v: string | null) => void; none?: string }) {
  return (
    <label class="chatdf-chart-builder__field">
      <span>{label}</span>
      <select value={value ?? ""} onChange={(e) => onChange((e.currentTarget as HTMLSelectElement).value || null)}>
        {none ? <option value="">{none}</option> : null}
        {options.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ChartBuilder({ columns, choice, onChange }: Props) {
  const plottable = columns.filter((c) => kindOf(c.friendly) !== null).map((c) => c.name);
  const numeric = columns.filter((c) => kindOf(c.friendly) === "quantitative").map((c) => c.name);
  const histogram = choice.mark === "histogram";
  return (
    <fieldset class="chatdf-chart-builder" aria-label="Chart settings">
      <label class="chatdf-chart-builder__field">
        <span>Mark</span>
        <select
          value={choice.mark}
          onChange={(e) => {
            const mark = (e.currentTarget as HTMLSelectElement).value as Mark;
            // A histogram bins a number and counts rows.
            const x = mark === "histogram" && !numeric.includes(choice.x ?? "") ? (numeric[0] ?? choice.x) : choice.x;
            onChange({ ...choice, mark, x, y: mark === "histogram" ? null : choice.y });
          }}
        >
          {MARKS.map((m) => (
            <option key={m.value} value={m.value}>
              {m.label}
            </option>
          ))}
        </select>
      </label>
      <Picker label="X" value={choice.x} options={histogram ? numeric : plottable} onChange={(x) => onChange({ ...choice, x })} />
      {histogram ? null : <Picker label="Y" value={choice.y} options={plottable} none="Count of rows" onChange={(y) => onChange({ ...choice, y })} />}
      <Picker label="Colour" value={choice.color} options={plottable} none="None" onChange={(color) => onChange({ ...choice, color })} />
    </fieldset>
  );
}
