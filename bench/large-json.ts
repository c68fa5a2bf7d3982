// The benchmarks' large response: a 100 KB JSON document shaped like an API listing (what
// response compression is for), the same bytes for every backend.

const items = Array.from({ length: 740 }, (_, i) => ({
  id: i, sku: `SKU-${String(i).padStart(6, '0')}`, name: `Product ${i}`, price: Math.round(i * 137.31) / 100,
  tags: ['alpha', 'beta', 'gamma'].slice(0, 1 + (i % 3)), inStock: i % 4 !== 0, updated: `2026-01-${String(1 + (i % 28)).padStart(2, '0')}T10:00:00Z`,
}));

/** About 100 KB. */
export const LARGE_JSON = JSON.stringify({ items, total: items.length });
