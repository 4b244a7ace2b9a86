/**
 * kubectl's plain table: columns padded to their widest cell plus three spaces, the last one
 * unpadded, trailing spaces trimmed. One line per row, header first.
 */
export function tableLines(rows: readonly (readonly string[])[]): string[] {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows.map((row) =>
    row
      .map((value, column) => (column === row.length - 1 ? value : value.padEnd((widths[column] ?? 0) + 3)))
      .join('')
      .trimEnd(),
  );
}
