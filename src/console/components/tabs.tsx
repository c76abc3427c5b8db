import type { ComponentChildren } from 'preact';

/** Tabs as links (each tab is an address, so reload and back work), marked for assistive tech. */
export function Tabs<T extends string>({ tabs, current, href, label }: { tabs: readonly { id: T; title: string }[]; current: T; href: (tab: T) => string; label: string }) {
  return (
    <nav class="tabs" aria-label={label}>
      {tabs.map((t) => (
        <a key={t.id} href={href(t.id)} class={t.id === current ? 'tab active' : 'tab'} aria-current={t.id === current ? 'page' : undefined} data-tab={t.id}>
          {t.title}
        </a>
      ))}
    </nav>
  );
}

export function Field({ label, hint, children }: { label: string; hint?: string; children: ComponentChildren }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {hint ? <span class="hint">{hint}</span> : null}
    </label>
  );
}
