// The net graph: RTT and traffic over the last half minute, drawn on a
// small canvas, plus a line of figures.

import type { NetStats } from "../../sdk/src/index.js";

interface Sample {
  rtt: number;
  bin: number;
  bout: number;
  tick: number;
}

const N = 120; // samples kept: 30 s at 4 per second

/** NetGraph keeps recent NetStats samples and draws them. */
export class NetGraph {
  private samples: Sample[] = [];
  private lastAt = -Infinity;

  constructor(private readonly canvas: HTMLCanvasElement, private readonly text: HTMLElement) {}

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
    g.fillStyle = "rgba(90,160,255,0.45)";
    s.forEach((v, i) => {
      const bh = (v.bin / maxB) * (h - 2);
      g.fillRect(x0 + i * dx - dx / 2, h - bh, Math.max(1, dx - 0.5), bh);
    });
    g.fillStyle = "rgba(255,190,80,0.8)";
    s.forEach((v, i) => {
      const bh = (v.bout / maxB) * (h - 2);
      g.fillRect(x0 + i * dx - dx / 4, h - bh, Math.max(1, dx / 2), bh);
    });
    // RTT: a line, scaled to at least 100 ms.
    const maxR = Math.max(100, ...s.map((v) => (Number.isFinite(v.rtt) ? v.rtt : 0))) * 1.1;
    g.strokeStyle = "#7cf08a";
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
    g.fillStyle = "rgba(220,230,240,0.7)";
    g.font = "10px system-ui, sans-serif";
    g.fillText(`${Math.round(maxR)} ms`, 3, 11);
  }
}

function kb(n: number): string {
  return n >= 1024 ? `${(n / 1024).toFixed(1)} kB/s` : `${Math.round(n)} B/s`;
}

/** describe formats the figures of the net graph. */
export function describe(st: NetStats): string {
  const rtt = Number.isFinite(st.rttSmoothed) ? `${st.rttSmoothed.toFixed(0)} ms ±${st.rttJitter.toFixed(0)}` : "…";
  const tick = Number.isFinite(st.serverTickUs)
    ? `${(st.serverTickUs / 1000).toFixed(2)} ms @ ${st.serverTickRate} Hz, ${st.serverConns} conns`
    : "n/a";
  return `RTT ${rtt} · in ${kb(st.bytesInPerSec)} · out ${kb(st.bytesOutPerSec)} · server tick ${tick}` + (st.desyncsSent ? ` · desync ${st.desyncsSent}` : "");
}
