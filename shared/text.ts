/** "1 violation", "2 violations": English plurals of the regular kind. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
