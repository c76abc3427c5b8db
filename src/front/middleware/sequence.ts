/** Middleware run in order, each `next` calling the one after; the last one's `next` is `next`. */
export function sequence<T>(stack: readonly ((ctx: T, next: () => Promise<unknown>) => unknown)[]): (ctx: T, next: () => Promise<unknown>) => Promise<unknown> {
  return (ctx, next) => {
    const at = (i: number): Promise<unknown> => (i === stack.length ? next() : Promise.resolve(stack[i]!(ctx, () => at(i + 1))));
    return at(0);
  };
}
