/**
 * Arrow IPC pages -> rows. The one place that decodes binary data (lonboard keeps
 * its Parquet decoding in one module the same way).
 *
 * Flechette reads the IPC stream the kernel writes (`chatdf/grid.py`); 64-bit
 * integers come back as `bigint` so large ids are shown exactly.
 */
import { tableFromIPC } from "@uwdata/flechette";

export interface DecodedPage {
  columns: string[];
  rows: unknown[][];
}

export function decodePage(buffer: DataView | ArrayBuffer | Uint8Array): DecodedPage {
  const bytes =
    buffer instanceof Uint8Array
      ? buffer
      : buffer instanceof ArrayBuffer
        ? new Uint8Array(buffer)
        : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const table = tableFromIPC(bytes, { useBigInt: true });
  const columns = table.schema.fields.map((f) => f.name);
  const vectors = columns.map((_, i) => table.getChildAt(i));
  const rows: unknown[][] = [];
  for (let r = 0; r < table.numRows; r++) rows.push(vectors.map((v) => v?.at(r) ?? null));
  return { columns, rows };
}
