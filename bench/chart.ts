// A PNG chart of the results in pure JS (pngjs): one line per measured row, throughput on the
// left (bar relative to the fastest row of the same scenario) and p99 latency on the right,
// with values written in a tiny built-in 3×5 bitmap font.
import { PNG } from 'pngjs';

const FONT: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111', '4': '101101111001001',
  '5': '111100111001111', '6': '111100111101111', '7': '111001010010010', '8': '111101111101111', '9': '111101111001111',
  A: '010101111101101', B: '110101110101110', C: '011100100100011', D: '110101101101110', E: '111100110100111',
  F: '111100110100100', G: '011100101101011', H: '101101111101101', I: '111010010010111', J: '001001001101010',
  K: '101101110101101', L: '100100100100111', M: '101111111101101', N: '110101101101101', O: '010101101101010',
  P: '110101110100100', Q: '010101101110011', R: '110101110101101', S: '011100010001110', T: '111010010010010',
  U: '101101101101111', V: '101101101101010', W: '101101111111101', X: '101101010101101', Y: '101101010010010',
  Z: '111001010100111', '.': '000000000000010', '-': '000000111000000', '/': '001001010100100', ':': '000010000010000',
  '%': '101001010100101', '(': '010100100100010', ')': '010001001001010', '>': '100010001010100', ',': '000000000010100',
  '+': '000010111010000', "'": '010010000000000', '=': '000111000111000', '<': '001010100010001', '_': '000000000000111', '#': '101111101111101',
};

type RGB = [number, number, number];

class Canvas {
  png: PNG;
  constructor(public w: number, public h: number) {
    this.png = new PNG({ width: w, height: h });
    this.rect(0, 0, w, h, [255, 255, 255]);
  }
  rect(x: number, y: number, w: number, h: number, c: RGB): void {
    for (let j = Math.max(0, y); j < Math.min(this.h, y + h); j++) {
      for (let i = Math.max(0, x); i < Math.min(this.w, x + w); i++) {
        const k = (j * this.w + i) * 4;
        this.png.data[k] = c[0];
        this.png.data[k + 1] = c[1];
        this.png.data[k + 2] = c[2];
        this.png.data[k + 3] = 255;
      }
    }
  }
  text(x: number, y: number, s: string, c: RGB = [30, 30, 30], scale = 2): void {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const g = FONT[ch];
      if (g) for (let r = 0; r < 5; r++) for (let col = 0; col < 3; col++) if (g[r * 3 + col] === '1') this.rect(cx + col * scale, y + r * scale, scale, scale, c);
      cx += 4 * scale;
    }
  }
}

export interface ChartRow { scenario: string; what: string; throughput: number; unit: string; p99_ms: number }

export function drawChart(rows: ChartRow[]): Buffer {
  const lineH = 34;
  const W = 1400;
  const labelW = 560;
  const panelW = 380;
  const H = 60 + rows.length * lineH + 20;
  const c = new Canvas(W, H);
  c.text(10, 12, 'PAYGATE BENCHMARK: THROUGHPUT (BAR: SHARE OF BEST IN SCENARIO)   AND   P99 LATENCY MS', [0, 0, 0], 2);
  c.text(labelW, 36, 'THROUGHPUT', [60, 60, 60]);
  c.text(labelW + panelW + 40, 36, 'P99 MS', [60, 60, 60]);
  const bestBy = new Map<string, number>();
  for (const r of rows) if (Number.isFinite(r.throughput)) bestBy.set(r.scenario, Math.max(bestBy.get(r.scenario) ?? 0, r.throughput));
  const maxP99 = Math.max(1, ...rows.map((r) => (Number.isFinite(r.p99_ms) ? r.p99_ms : 0)));
  rows.forEach((r, i) => {
    const y = 60 + i * lineH;
    if (i % 2 === 0) c.rect(0, y - 4, W, lineH, [245, 245, 248]);
    const label = `${r.scenario} ${r.what}`.replace(/[^\x20-\x7e]/g, '-').slice(0, 68);
    c.text(10, y + 6, label);
    if (Number.isFinite(r.throughput) && r.throughput > 0) {
      const w = Math.max(2, Math.round(((panelW - 150) * r.throughput) / (bestBy.get(r.scenario) || r.throughput)));
      c.rect(labelW, y, w, 22, [60, 120, 200]);
      c.text(labelW + w + 6, y + 6, `${Math.round(r.throughput)} ${r.unit}`);
    }
    if (Number.isFinite(r.p99_ms)) {
      const x0 = labelW + panelW + 40;
      const w = Math.max(2, Math.round(((W - x0 - 120) * r.p99_ms) / maxP99));
      c.rect(x0, y, w, 22, [220, 110, 60]);
      c.text(x0 + w + 6, y + 6, r.p99_ms.toFixed(1));
    }
  });
  return PNG.sync.write(c.png);
}
