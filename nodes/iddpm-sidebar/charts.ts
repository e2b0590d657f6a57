/**
 * The sidebar's charts: small uPlot line charts (uPlot is bundled into iddpm/sidebar.js by the build, so the editor
 * needs no network). Log-scale charts drop values that are not positive (a log axis cannot show them).
 */
import uPlot from 'uplot';

export interface SeriesSpec {
  label: string;
  stroke: string;
  dash?: number[];
  width?: number;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  series: SeriesSpec[];
  logY?: boolean;
  height?: number;
}

type Column = Array<number | null>;

/** Tick spacings of whole-number axes: 1, 2, 5, 10, 20, 50, … */
const WHOLE_INCREMENTS = Array.from({ length: 24 }, (_, i) => [1, 2, 5][i % 3] * 10 ** Math.floor(i / 3));

/** Colours of the loss terms and quartiles (colour-blind safe, Okabe–Ito). */
export const COLOURS = {
  loss: '#0072B2', mse: '#E69F00', vb: '#009E73', q: ['#56B4E9', '#009E73', '#E69F00', '#D55E00'], p: '#CC79A7', floor: '#999999', uniform: '#555555',
};

export class LiveChart {
  private plot?: uPlot;
  private data: [number[], ...Column[]];

  constructor(private readonly el: unknown, private readonly spec: ChartSpec, private width: number) {
    this.data = [[], ...spec.series.map(() => [] as Column)];
  }

  private options(): uPlot.Options {
    const { spec } = this;
    return {
      title: spec.title,
      width: Math.max(160, this.width),
      height: spec.height ?? 150,
      scales: { x: { time: false }, y: spec.logY ? { distr: 3 } : {} },
      axes: [
        // Steps and timesteps are whole numbers: no ticks between them.
        { label: spec.xLabel, size: 36, labelSize: 14, font: '10px sans-serif', labelFont: '11px sans-serif', incrs: WHOLE_INCREMENTS },
        { size: 50, font: '10px sans-serif', values: (_u: uPlot, ticks: Array<number | null>) => ticks.map((v) => (v === null ? '' : tickText(v))) },
      ],
      series: [{ label: spec.xLabel }, ...spec.series.map((s) => ({ label: s.label, stroke: s.stroke, width: s.width ?? 1.5, dash: s.dash, spanGaps: true, points: { show: false } }))],
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
    };
  }

  /** Replaces the data: x and one column per series (nulls are gaps). */
  setData(x: number[], columns: Column[]): void {
    const clean = this.spec.logY ? columns.map((c) => c.map((v) => (v !== null && v > 0 && Number.isFinite(v) ? v : null))) : columns;
    this.data = [x, ...clean];
    this.draw();
  }

  /** uPlot measures its element: it is made once the element is on screen (a hidden pane has no size). */
  private draw(): void {
    if (this.plot) {
      this.plot.setData(this.data as uPlot.AlignedData);
      return;
    }
    const shown = (this.el as { offsetParent?: unknown }).offsetParent;
    if (this.data[0].length === 0 || !shown) return;
    this.plot = new uPlot(this.options(), this.data as uPlot.AlignedData, this.el as never);
  }

  /** How many points it shows (for tests and empty states). */
  get points(): number {
    return this.data[0].length;
  }

  /** A new width (the sidebar was resized or shown); draws a chart that could not be drawn while hidden. */
  resize(width: number): void {
    this.width = width;
    if (this.plot) this.plot.setSize({ width: Math.max(160, width), height: this.spec.height ?? 150 });
    else this.draw();
  }

  destroy(): void {
    this.plot?.destroy();
    this.plot = undefined;
  }
}

/** Axis numbers: short, exponent form for the tiny and huge values of log axes. */
export function tickText(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(3)));
}
