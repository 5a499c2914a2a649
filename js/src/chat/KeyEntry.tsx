/**
 * No Gemini key yet: one message, a field to paste a key for this kernel session,
 * and a link to get one. The key goes to the kernel in one request and is kept in
 * its memory only (chatdf/key_entry.py); the field is cleared once it is sent.
 */
import { useState } from "preact/hooks";
import { useWidget } from "../context";
import { Icon } from "../ui/icons";

export const GET_KEY_URL = "https://aistudio.google.com/apikey";

export function KeyEntry() {
  const { api, notify } = useWidget();
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    setSaving(true);
    setError(null);
    try {
      await api.setKey(key);
      setKey("");
      notify("Key set for this kernel session.");
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setSaving(false);
    }
  }

  return (
    <form class="chatdf-key" aria-label="Gemini API key" onSubmit={submit}>
      <p class="chatdf-key__title">
        <Icon name="sparkle" /> Add a Gemini API key to ask questions
      </p>
      <div class="chatdf-key__row">
        <input
          type="password"
          class="chatdf-input"
          aria-label="Gemini API key"
          placeholder="Paste your key"
          autoComplete="off"
          spellcheck={false}
          value={key}
          onInput={(e) => setKey(e.currentTarget.value)}
        />
        <button type="submit" class="chatdf-btn chatdf-btn--primary" disabled={saving || !key.trim()}>
          {saving ? "Checking…" : "Use key"}
        </button>
      </div>
      {error ? (
        <p class="chatdf-key__error" role="alert">
          {error}
        </p>
      ) : null}
      <p class="chatdf-key__note">
        Kept in this kernel's memory only: never saved in the notebook or history. Or set GEMINI_API_KEY before starting.{" "}
        <a href={GET_KEY_URL} target="_blank" rel="noopener noreferrer">
          Get a key
        </a>
      </p>
    </form>
  );
}
