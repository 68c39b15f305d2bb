/** Whether `value` is one of `list`: the type guard for a `const` list of names (the topics a part takes). */
export function isOneOf<T extends string>(list: readonly T[], value: string): value is T {
  return (list as readonly string[]).includes(value);
}
