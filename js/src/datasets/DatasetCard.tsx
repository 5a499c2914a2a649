/** One dataset card: loading, "name · 1,234 rows × 5 cols", or the error with Retry. */
import { useState } from "preact/hooks";
import { useWidget } from "../context";
import type { DatasetCard as Card } from "../model";
import { ConfirmDialog } from "../ui/Dialog";
import { Icon } from "../ui/icons";
import { formatShape } from "../utils/format";

export function DatasetCard({ dataset, onOpen }: { dataset: Card; onOpen: () => void }) {
  const { api, notify } = useWidget();
  const [confirming, setConfirming] = useState(false);
  const { name, source, status } = dataset;

  if (status === "loading") {
    return (
      <li class="chatdf-card chatdf-card--loading" aria-busy="true">
        <span class="chatdf-spinner" aria-hidden="true" />
        <span class="chatdf-card__text">
          <span class="chatdf-card__name">{name}</span>
          <span class="chatdf-card__shape">Loading…</span>
        </span>
      </li>
    );
  }

  if (status === "error") {
    return (
      <li class="chatdf-card chatdf-card--error" role="group" aria-label={`Could not add ${name}`}>
        <div class="chatdf-card__row">
          <span class="chatdf-card__name" title={source}>
            {name}
          </span>
          <button
            type="button"
            class="chatdf-icon-btn"
            aria-label={`Dismiss ${name}`}
            onClick={() => api.removeDataset(dataset.id).catch(() => {})}
          >
            <Icon name="x" />
          </button>
        </div>
        <p class="chatdf-card__error" role="alert">
          {dataset.error?.message ?? "Could not be added."}
        </p>
        <button
          type="button"
          class="chatdf-btn chatdf-btn--small"
          onClick={() => api.addDataset(source, dataset.requested_name, dataset.id).catch(() => {})}
        >
          <Icon name="refresh" /> Retry
        </button>
      </li>
    );
  }

  return (
    <li class="chatdf-card">
      <div class="chatdf-card__row">
        <button type="button" class="chatdf-card__open" title={`${source}\nClick for the schema`} onClick={onOpen}>
          <span class="chatdf-card__name">{name}</span>
          <span class="chatdf-card__sep" aria-hidden="true">
            {" · "}
          </span>
          <span class="chatdf-card__shape">{formatShape(dataset.row_count, dataset.column_count)}</span>
        </button>
        <button type="button" class="chatdf-icon-btn chatdf-card__remove" aria-label={`Remove ${name}`} onClick={() => setConfirming(true)}>
          <Icon name="trash" />
        </button>
      </div>
      {confirming ? (
        <ConfirmDialog
          title="Remove dataset"
          message={
            <>
              Remove <strong>{name}</strong> from this session? Questions can no longer use it. The file itself is not touched.
            </>
          }
          confirmLabel="Remove"
          onConfirm={() => api.removeDataset(name).catch((err) => notify(err.message, "error"))}
          onClose={() => setConfirming(false)}
        />
      ) : null}
    </li>
  );
}
