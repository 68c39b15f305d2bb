import type { PluItem } from '../../lib/plu/plu-format';

/** A fixed catalogue with Turkish names, used by the round-trip and golden-file tests. */
export const GOLDEN_CATALOG: PluItem[] = [
  { pluCode: 7, name: 'ÇİĞ KÖFTE', price: 42050, barcode: '200000700000', department: 2, unitType: 'kg', tareGrams: 120, lot: 'L-2026-01', date1: '2026-01-30', date2: '2026-02-06', labelType: 1 },
  { pluCode: 1, name: 'KIYMA', price: 15, barcode: '1', department: 0, unitType: 'kg', tareGrams: 0, lot: '', date1: null, date2: null, labelType: 1 },
  { pluCode: 2, name: 'KUŞBAŞI', price: 38990, barcode: '200000200000', department: 1, unitType: 'kg', tareGrams: 50, lot: 'L7', date1: '2026-01-30', date2: null, labelType: 2 },
  { pluCode: 3, name: 'BONFİLE', price: 99999, barcode: '200000300000', department: 1, unitType: 'kg', tareGrams: 9999, lot: '', date1: null, date2: null, labelType: 1 },
  { pluCode: 4, name: 'İŞKEMBE', price: 12500, barcode: '', department: 3, unitType: 'piece', tareGrams: 0, lot: 'ABCDEFGHIJ', date1: null, date2: '2026-12-31', labelType: 99 },
];
