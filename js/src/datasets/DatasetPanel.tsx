import type { Dataset } from "../model";
import { DatasetCard } from "./DatasetCard";

interface Props {
  datasets: Dataset[];
  max: number;
}

/** "Datasets (n/max)" with one card per dataset, or how to add the first one. */
export function DatasetPanel({ datasets, max }: Props) {
  return (
    <section class="chatdf-panel chatdf-datasets" aria-label="Datasets">
      <h3 class="chatdf-panel__title">
        Datasets ({datasets.length}/{max})
      </h3>
      {datasets.length === 0 ? (
        <p class="chatdf-empty">
          No datasets yet — add one with <code>chat.add(...)</code>
        </p>
      ) : (
        <ul class="chatdf-cards">
          {datasets.map((dataset) => (
            <DatasetCard key={dataset.name} dataset={dataset} />
          ))}
        </ul>
      )}
    </section>
  );
}
