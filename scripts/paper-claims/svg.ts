/**
 * A small SVG line chart for docs/paper-claims.md: series of (x, y) points with optional ± error bars, linear or
 * log axes, dashed reference lines, a legend. Plain text out (no dependencies); the docs show the .svg directly.
 */

export interface Point {
  x: number;
  y: number;
  /** Half-length of the error bar (± err). */
  err?: number;
}

export interface Series {
  label: string;
  points: Point[];
  color: string;
  dashed?: boolean;
  /** Draw markers at the points (default true). */
  markers?: boolean;
  /** Line width (default 2). */
  width?: number;
}

export interface Chart {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  xLog?: boolean;
  yLog?: boolean;
  /** Axis ranges (default: the data's, padded). */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Tick positions (default: nice ticks). */
  xTicks?: number[];
  yTicks?: number[];
  width?: number;
  height?: number;
}

export const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#7f7f7f'];

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number): string => {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (Number.isInteger(v) && a < 1e6) return String(v);
  if (a >= 1e6 || a < 0.01) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
};

/** About five round ticks over [lo, hi] (powers of ten on a log axis). */
function ticks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
      }
    }
    return out.length > 8 ? out.filter((v) => Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9) : out;
  }
  const step0 = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

/** The chart as an SVG document. */
export function lineChart(c: Chart): string {
  const W = c.width ?? 640;
  const H = c.height ?? 400;
  const m = { left: 70, right: 20, top: 40, bottom: 55 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const pts = c.series.flatMap((s) => s.points);
  const xs = pts.map((p) => p.x);
  const ys = pts.flatMap((p) => [p.y - (p.err ?? 0), p.y + (p.err ?? 0)]).filter((v) => !c.yLog || v > 0);
  const pad = (lo: number, hi: number, log: boolean): [number, number] => {
    if (log) return [lo / 1.15, hi * 1.15];
    const d = hi - lo || Math.abs(hi) || 1;
    return [lo - 0.05 * d, hi + 0.05 * d];
  };
  const [x0, x1] = c.xRange ?? pad(Math.min(...xs), Math.max(...xs), !!c.xLog);
  const [y0, y1] = c.yRange ?? pad(Math.min(...ys), Math.max(...ys), !!c.yLog);
  const tx = (v: number): number => m.left + (c.xLog ? (Math.log(v) - Math.log(x0)) / (Math.log(x1) - Math.log(x0)) : (v - x0) / (x1 - x0)) * pw;
  const ty = (v: number): number => m.top + ph - (c.yLog ? (Math.log(v) - Math.log(y0)) / (Math.log(y1) - Math.log(y0)) : (v - y0) / (y1 - y0)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(c.title)}</text>`,
  ];
  for (const v of c.xTicks ?? ticks(x0, x1, !!c.xLog)) {
    out.push(`<line x1="${tx(v)}" y1="${m.top}" x2="${tx(v)}" y2="${m.top + ph}" stroke="#eee"/>`, `<text x="${tx(v)}" y="${m.top + ph + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  for (const v of c.yTicks ?? ticks(y0, y1, !!c.yLog)) {
    out.push(`<line x1="${m.left}" y1="${ty(v)}" x2="${m.left + pw}" y2="${ty(v)}" stroke="#eee"/>`, `<text x="${m.left - 6}" y="${ty(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(c.xLabel)}</text>`,
    `<text transform="translate(16 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(c.yLabel)}</text>`,
  );
  // A clip id from the title: the same chart gives the same file.
  const clip = `clip${[...c.title].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7)}`;
  out.push(`<clipPath id="${clip}"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath><g clip-path="url(#${clip})">`);
  for (const s of c.series) {
    const valid = s.points.filter((p) => Number.isFinite(p.y) && (!c.yLog || p.y > 0));
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (valid.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="${s.width ?? 2}"${dash} points="${valid.map((p) => `${tx(p.x).toFixed(1)},${ty(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of valid) {
      if (p.err) {
        const lo = c.yLog ? Math.max(p.y - p.err, y0) : p.y - p.err;
        out.push(`<line x1="${tx(p.x)}" y1="${ty(lo)}" x2="${tx(p.x)}" y2="${ty(p.y + p.err)}" stroke="${s.color}" stroke-width="1.5"/>`);
        for (const v of [lo, p.y + p.err]) out.push(`<line x1="${tx(p.x) - 4}" y1="${ty(v)}" x2="${tx(p.x) + 4}" y2="${ty(v)}" stroke="${s.color}" stroke-width="1.5"/>`);
      }
      if (s.markers ?? true) out.push(`<circle cx="${tx(p.x).toFixed(1)}" cy="${ty(p.y).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
    }
  }
  out.push('</g>');
  c.series.forEach((s, i) => {
    const y = m.top + 14 + i * 17;
    const x = m.left + pw - 230;
    out.push(
      `<rect x="${x - 6}" y="${y - 11}" width="234" height="17" fill="white" fill-opacity="0.85"/>`,
      `<line x1="${x}" y1="${y - 4}" x2="${x + 24}" y2="${y - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${x + 30}" y="${y}">${esc(s.label)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
