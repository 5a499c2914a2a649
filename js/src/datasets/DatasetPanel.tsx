/** The right panel: "Datasets (n/max)", the URL/path box and one card per dataset. */
import { useRef, useState } from "preact/hooks";
import { useWidget } from "../context";
import type { DatasetCard as Card } from "../model";
import { Icon } from "../ui/icons";
import { DatasetCard } from "./DatasetCard";
import { SchemaDialog } from "./SchemaDialog";

interface Props {
  datasets: Card[];
  max: number;
}

export function DatasetPanel({ datasets, max }: Props) {
  const { api } = useWidget();
  const [source, setSource] = useState("");
  // By name, and outside the cards: a rename gives the card a new key, the dialog stays.
  const [schemaFor, setSchemaFor] = useState<string | null>(null);
  const lastSchemaCard = useRef<Card | undefined>(undefined);
  let schemaCard = datasets.find((d) => d.status === "ready" && d.name === schemaFor);
  // During a rename the kernel's new card list can arrive before the reply that
  // names it: keep showing the dialog meanwhile.
  if (schemaFor && !schemaCard) schemaCard = lastSchemaCard.current;
  lastSchemaCard.current = schemaFor ? schemaCard : undefined;
  const ready = datasets.filter((d) => d.status !== "error").length;
  const full = ready >= max;

  function add(e: Event) {
    e.preventDefault();
    const text = source.trim();
    if (!text || full) return;
    setSource("");
    // The card shows loading and then the dataset or the error; nothing else to do here.
    api.addDataset(text).catch(() => {});
  }

  return (
    <section class="chatdf-panel chatdf-datasets" aria-label="Datasets">
      <h3 class="chatdf-panel__title">
        Datasets ({ready}/{max})
      </h3>
      <form class="chatdf-add" onSubmit={add}>
        <input
          class="chatdf-input"
          type="text"
          value={source}
          placeholder="Paste a parquet or CSV URL or path…"
          aria-label="Parquet or CSV URL or path"
          disabled={full}
          onInput={(e) => setSource(e.currentTarget.value)}
        />
        <button type="submit" class="chatdf-btn chatdf-btn--primary" disabled={full || !source.trim()}>
          <Icon name="plus" /> Add
        </button>
      </form>
      {full ? <p class="chatdf-empty">Remove a dataset to add another (at most {max}).</p> : null}
      {datasets.length === 0 ? (
        <p class="chatdf-empty">
          No datasets yet. Add a URL or path above, or from Python with <code>chat.add(df)</code>.
        </p>
      ) : (
        <ul class="chatdf-cards">
          {datasets.map((dataset) => (
            <DatasetCard key={dataset.id} dataset={dataset} onOpen={() => setSchemaFor(dataset.name)} />
          ))}
        </ul>
      )}
      {schemaCard ? <SchemaDialog dataset={schemaCard} onRenamed={setSchemaFor} onClose={() => setSchemaFor(null)} /> : null}
    </section>
  );
}
