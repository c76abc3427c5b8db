/** The script API's completions, read from sandbox/script-api.d.ts by build.mjs at build time. */
declare module 'inferbox:script-api' {
  interface Entry {
    readonly label: string;
    readonly type: string;
    readonly detail: string;
    readonly info: string;
  }
  const api: {
    readonly globals: readonly Entry[];
    readonly interfaces: Readonly<Record<string, { readonly members: readonly Entry[]; readonly parents: readonly string[]; readonly info: string }>>;
  };
  export default api;
}
