/**
 * Who is using chatdf. Single-user mode: a local session with the kernel's own key.
 * Team mode (a chatdf gateway): "Sign in with Google" opens the gateway's sign-in page
 * in a new tab and shows the code that page must show; then the signed-in e-mail.
 */
import { useEffect, useState } from "preact/hooks";
import { useWidget } from "../context";
import { useTrait } from "../hooks/useTrait";
import { Icon } from "../ui/icons";

interface Pending {
  url: string;
  user_code: string;
}

export function AccountArea() {
  const { model, api, notify } = useWidget();
  const account = useTrait(model, "_account") ?? {};
  const [pending, setPending] = useState<Pending | null>(null);
  const [starting, setStarting] = useState(false);
  const signedIn = Boolean(account.email);
  const fail = (err: unknown) => notify(err instanceof Error ? err.message : String(err), "error");

  useEffect(() => {
    if (signedIn) setPending(null);
  }, [signedIn]);

  async function signIn() {
    // Open the tab inside the click, so no pop-up blocker stops it; its address follows.
    // Cut its opener: the sign-in page never gets a handle on JupyterLab.
    const tab = window.open("", "_blank");
    if (tab) tab.opener = null;
    setStarting(true);
    try {
      const started = await api.signIn();
      setPending(started);
      if (tab) tab.location.href = started.url;
    } catch (err) {
      tab?.close();
      fail(err);
    } finally {
      setStarting(false);
    }
  }

  const avatar = (
    <span class="chatdf-account__avatar" aria-hidden="true">
      <Icon name="user" />
    </span>
  );

  // Single-user mode has no account to show: the key is the kernel's own.
  if (!account.team) return null;

  if (signedIn) {
    return (
      <div class="chatdf-account" aria-label="Account">
        {avatar}
        <span class="chatdf-account__text">
          <span class="chatdf-account__name" title={account.name ? `${account.name} (${account.email})` : account.email}>
            {account.email}
          </span>
          <span class="chatdf-account__note">
            Team gateway ·{" "}
            <button type="button" class="chatdf-account__action" onClick={() => api.signOut().catch(fail)}>
              Sign out
            </button>
          </span>
        </span>
      </div>
    );
  }

  return (
    <div class="chatdf-account chatdf-account--signed-out" aria-label="Account">
      {avatar}
      <span class="chatdf-account__text">
        <button type="button" class="chatdf-btn chatdf-btn--primary chatdf-btn--small" disabled={starting} onClick={signIn}>
          Sign in with Google
        </button>
        {pending ? (
          <span class="chatdf-account__note chatdf-account__code" role="status">
            Check that the page shows <b>{pending.user_code}</b> ·{" "}
            <a href={pending.url} target="_blank" rel="noopener noreferrer">
              open it again
            </a>
          </span>
        ) : (
          <span class="chatdf-account__note">Team gateway: sign in to ask questions</span>
        )}
      </span>
    </div>
  );
}
