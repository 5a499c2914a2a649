/**
 * A modal dialog on the native `<dialog>`: focus is trapped and restored by the
 * browser; it closes with the X, Esc, or a click on the backdrop.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { Icon } from "./icons";

interface Props {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  footer?: ComponentChildren;
  class?: string;
}

export function Dialog({ title, onClose, children, footer, class: extra }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  const closeRef = useRef(onClose);
  closeRef.current = onClose;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (!dialog.open) {
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
    }
    const cancel = (e: Event) => {
      e.preventDefault(); // Esc: close through our state, not behind its back
      closeRef.current();
    };
    dialog.addEventListener("cancel", cancel);
    return () => {
      dialog.removeEventListener("cancel", cancel);
      if (dialog.open && typeof dialog.close === "function") dialog.close();
    };
  }, []);

  return (
    <dialog
      ref={ref}
      class={`chatdf-dialog ${extra ?? ""}`}
      aria-label={title}
      onMouseDown={(e) => {
        // The dialog element itself is only hit outside its content box: the backdrop.
        if (e.target === ref.current) onClose();
      }}
      onKeyDown={(e) => e.stopPropagation()}
    >
      <div class="chatdf-dialog__box">
        <header class="chatdf-dialog__header">
          <h2 class="chatdf-dialog__title">{title}</h2>
          <button type="button" class="chatdf-icon-btn" aria-label="Close" onClick={onClose}>
            <Icon name="x" />
          </button>
        </header>
        <div class="chatdf-dialog__body">{children}</div>
        {footer ? <footer class="chatdf-dialog__footer">{footer}</footer> : null}
      </div>
    </dialog>
  );
}

interface ConfirmProps {
  title: string;
  message: ComponentChildren;
  confirmLabel: string;
  onConfirm: () => void;
  onClose: () => void;
}

/** "Are you sure?" with a destructive button. */
export function ConfirmDialog({ title, message, confirmLabel, onConfirm, onClose }: ConfirmProps) {
  return (
    <Dialog
      title={title}
      onClose={onClose}
      class="chatdf-dialog--small"
      footer={
        <>
          <button type="button" class="chatdf-btn chatdf-btn--quiet" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            class="chatdf-btn chatdf-btn--danger"
            onClick={() => {
              onConfirm();
              onClose();
            }}
          >
            {confirmLabel}
          </button>
        </>
      }
    >
      <p>{message}</p>
    </Dialog>
  );
}
