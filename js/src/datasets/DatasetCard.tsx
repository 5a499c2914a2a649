import type { Dataset } from "../model";
import { formatShape } from "../utils/format";

/** One dataset: "name · 1,234 rows × 5 cols", expanding to its columns. */
export function DatasetCard({ dataset }: { dataset: Dataset }) {
  const { name, source, row_count, column_count, columns } = dataset;
  return (
    <li class="chatdf-card">
      <details>
        <summary title={source}>
          <span class="chatdf-card__name">{name}</span>
          <span class="chatdf-card__sep" aria-hidden="true">
            {" · "}
          </span>
          <span class="chatdf-card__shape">{formatShape(row_count, column_count)}</span>
        </summary>
        <ul class="chatdf-columns" aria-label={`Columns of ${name}`}>
          {columns.map((column) => (
            <li key={column.name} class="chatdf-column">
              <span class="chatdf-column__name">{column.name}</span>
              <span class="chatdf-column__type" title={column.dtype}>
                {column.friendly}
              </span>
            </li>
          ))}
        </ul>
      </details>
    </li>
  );
}
