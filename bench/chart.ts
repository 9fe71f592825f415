// The results as a hand-written SVG bar chart: one pair of bars per metric measured on both stacks, each
// normalised to the socket (kernel) stack = 1.0, the direct stack's ratio written at its bar.

export interface ChartRow {
  label: string;
  /** direct / socket. */
  ratio: number;
  /** Lower is better (memory): said in the label. */
  lowerIsBetter: boolean;
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function barChart(rows: ChartRow[], title: string, subtitle: string): string {
  const labelW = 400;
  const barW = 420;
  const rowH = 46;
  const top = 78;
  const width = labelW + barW + 90;
  const height = top + rows.length * rowH + 30;
  // The scale ends at 3× at most; a longer bar is cut there (its ratio is written anyway).
  const max = Math.min(3, Math.max(1.25, ...rows.map((r) => (Number.isFinite(r.ratio) ? r.ratio : 0)))) * 1.05;
  const x = (v: number): number => labelW + (Math.min(max, Math.max(0, v)) / max) * barW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="13">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="12" y="24" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="12" y="44" fill="#555">${esc(subtitle)}</text>`,
    `<rect x="${labelW}" y="54" width="12" height="12" fill="#9aa5b1"/><text x="${labelW + 18}" y="65">socket stack (kernel) = 1.0</text>`,
    `<rect x="${labelW + 210}" y="54" width="12" height="12" fill="#2b7bb9"/><text x="${labelW + 228}" y="65">direct stack (ours)</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 10}" y="${y + 22}" text-anchor="end">${esc(r.label)}${r.lowerIsBetter ? ' (lower is better)' : ''}</text>`);
    out.push(`<rect x="${labelW}" y="${y + 4}" width="${(x(1) - labelW).toFixed(1)}" height="14" fill="#9aa5b1"/>`);
    const ratio = Number.isFinite(r.ratio) ? r.ratio : 0;
    out.push(`<rect x="${labelW}" y="${y + 20}" width="${(x(ratio) - labelW).toFixed(1)}" height="14" fill="#2b7bb9"/>`);
    out.push(`<text x="${(x(ratio) + 6).toFixed(1)}" y="${y + 32}">${Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}×` : 'n/a'}</text>`);
  });
  const x1 = x(1).toFixed(1);
  out.push(`<line x1="${x1}" y1="${top}" x2="${x1}" y2="${top + rows.length * rowH}" stroke="#333" stroke-dasharray="4 3"/>`);
  out.push(`<text x="${x1}" y="${top + rows.length * rowH + 18}" text-anchor="middle" fill="#333">1.0</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
