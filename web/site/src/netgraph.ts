// The net graph: RTT and traffic over the last half minute, drawn on a
// small canvas with its scales, a legend naming each series and its unit,
// and a line of figures.

import type { NetStats } from "../../sdk/src/index.js";

/** One series of the graph, as the legend shows it. */
export interface Series {
  key: "rtt" | "in" | "out";
  /** What it is, with its unit. */
  label: string;
  /** How it is drawn: a line or bars. */
  mark: "line" | "bar";
  color: string;
}

/** The graph's series, in legend order; the canvas draws with these colours. */
export const SERIES: readonly Series[] = [
  { key: "rtt", label: "round trip (ms, smoothed)", mark: "line", color: "#7cf08a" },
  { key: "in", label: "received (B/s)", mark: "bar", color: "rgba(90,160,255,0.75)" },
  { key: "out", label: "sent (B/s)", mark: "bar", color: "rgba(255,190,80,0.9)" },
];

const color = (key: Series["key"]) => SERIES.find((s) => s.key === key)!.color;

interface Sample {
  rtt: number;
  bin: number;
  bout: number;
  tick: number;
}

/** Samples kept: 30 s at 4 per second. */
const N = 120;
/** The time the graph spans, seconds. */
export const SPAN_S = N / 4;

/** NetGraph keeps recent NetStats samples and draws them. */
export class NetGraph {
  private samples: Sample[] = [];
  private lastAt = -Infinity;

  constructor(private readonly canvas: HTMLCanvasElement, private readonly text: HTMLElement, legend?: HTMLElement) {
    if (legend) {
      const span = document.createElement("li");
      span.className = "span";
      span.textContent = `last ${SPAN_S} s, newest at the right; the corners give the top of each scale`;
      legend.replaceChildren(...SERIES.map(legendItem), span);
    }
  }

  /** add records st if a quarter second has passed since the last sample, and redraws. */
  add(st: NetStats, now: number): void {
    if (now - this.lastAt < 250) return;
    this.lastAt = now;
    this.samples.push({ rtt: st.rttSmoothed, bin: st.bytesInPerSec, bout: st.bytesOutPerSec, tick: st.serverTickUs });
    if (this.samples.length > N) this.samples.shift();
    this.draw();
    this.text.textContent = describe(st);
  }

  private draw(): void {
    const c = this.canvas;
    const dpr = globalThis.devicePixelRatio || 1;
    const w = c.clientWidth || 240;
    const h = c.clientHeight || 64;
    if (c.width !== Math.round(w * dpr)) c.width = Math.round(w * dpr);
    if (c.height !== Math.round(h * dpr)) c.height = Math.round(h * dpr);
    const g = c.getContext("2d");
    if (!g) return;
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const s = this.samples;
    const dx = w / (N - 1);
    const x0 = w - (s.length - 1) * dx;
    // Traffic in: bars; out: a thin line of bars on top.
    const maxB = Math.max(1024, ...s.map((v) => v.bin), ...s.map((v) => v.bout));
    g.fillStyle = color("in");
    s.forEach((v, i) => {
      const bh = (v.bin / maxB) * (h - 2);
      g.fillRect(x0 + i * dx - dx / 2, h - bh, Math.max(1, dx - 0.5), bh);
    });
    g.fillStyle = color("out");
    s.forEach((v, i) => {
      const bh = (v.bout / maxB) * (h - 2);
      g.fillRect(x0 + i * dx - dx / 4, h - bh, Math.max(1, dx / 2), bh);
    });
    // RTT: a line, scaled to at least 100 ms.
    const maxR = Math.max(100, ...s.map((v) => (Number.isFinite(v.rtt) ? v.rtt : 0))) * 1.1;
    g.strokeStyle = color("rtt");
    g.lineWidth = 1.5;
    g.beginPath();
    let started = false;
    s.forEach((v, i) => {
      if (!Number.isFinite(v.rtt)) return;
      const y = h - (v.rtt / maxR) * h;
      if (started) g.lineTo(x0 + i * dx, y);
      else g.moveTo(x0 + i * dx, y);
      started = true;
    });
    g.stroke();
    // Scales: the top of the graph is maxR for the round trip (left corner)
    // and maxB for traffic (right corner); the legend says it spans SPAN_S
    // seconds up to now.
    g.font = "10px system-ui, sans-serif";
    const corner = (text: string, left: boolean, fill: string) => {
      // On a dark chip, so the figure stays readable over the bars.
      const tw = g.measureText(text).width;
      const x0 = left ? 3 : w - 3 - tw;
      g.fillStyle = "rgba(13,17,23,0.75)";
      g.fillRect(x0 - 2, 1, tw + 4, 11);
      g.fillStyle = fill;
      g.textAlign = "left";
      g.textBaseline = "top";
      g.fillText(text, x0, 2);
    };
    corner(`${Math.round(maxR)} ms`, true, color("rtt"));
    corner(rate(maxB), false, "rgb(150,195,255)");
  }
}

/** legendItem is one entry of the legend: a swatch drawn like the series, and its label. */
function legendItem(s: Series): HTMLElement {
  const li = document.createElement("li");
  li.dataset.series = s.key;
  const sw = document.createElement("span");
  sw.className = `swatch ${s.mark}`;
  sw.style.setProperty("--c", s.color);
  li.append(sw, s.label);
  return li;
}

/** rate formats bytes per second. */
export function rate(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(1)} kB/s` : `${Math.round(n)} B/s`;
}

/** describe formats the figures of the net graph. */
export function describe(st: NetStats): string {
  const rtt = Number.isFinite(st.rttSmoothed) ? `${st.rttSmoothed.toFixed(0)} ms ±${st.rttJitter.toFixed(0)}` : "…";
  const tick = Number.isFinite(st.serverTickUs)
    ? `${(st.serverTickUs / 1000).toFixed(2)} ms @ ${st.serverTickRate} Hz, ${st.serverConns} conns`
    : "n/a";
  return `RTT ${rtt} · in ${rate(st.bytesInPerSec)} · out ${rate(st.bytesOutPerSec)} · server tick ${tick}` + (st.desyncsSent ? ` · desync ${st.desyncsSent}` : "");
}
