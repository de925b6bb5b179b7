// tickwire console: time-series charts on a canvas, no dependencies.
//
// A Chart draws series of samples ({t: unix ms, ...}) over a fixed time
// window ending now, with a labelled time axis (clock time and minutes
// ago), a y axis with "nice" ticks in the chart's unit, and a legend (in
// the DOM) with each series' latest value.

const AXIS = "#8a93a6";
const GRID = "rgba(138,147,166,0.18)";
const FONT = "11px system-ui, sans-serif";

/** niceStep returns a round step (1, 2, 5 × 10^n) giving about n ticks over span. */
export function niceStep(span, n) {
  if (!(span > 0)) return 1;
  const raw = span / n;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** Unit formatters: value -> short text with the unit. */
export const units = {
  ms: (v) => `${fmt(v)} ms`,
  count: (v) => fmt(v),
  pct: (v) => `${fmt(v)} %`,
  mib: (v) => `${fmt(v)} MiB`,
  perSec: (v) => `${fmt(v)}/s`,
  perMin: (v) => `${fmt(v)}/min`,
  bytesPerSec: (v) => {
    const a = Math.abs(v);
    if (a >= 1 << 20) return `${fmt(v / (1 << 20))} MiB/s`;
    if (a >= 1 << 10) return `${fmt(v / (1 << 10))} KiB/s`;
    return `${fmt(v)} B/s`;
  },
};

/** fmt prints a number with at most 3 significant digits after the point. */
export function fmt(v) {
  if (v == null || Number.isNaN(v)) return "–";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a >= 100) return Math.round(v).toLocaleString("en");
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, "");
  if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, "");
  return String(Number(v.toPrecision(2)));
}

function clock(t) {
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}`;
}

export class Chart {
  /**
   * @param {HTMLElement} card  element to draw into (gets a legend and a canvas)
   * @param {object} opt  {title, unit (key of units), series: [{label, color, value(sample, i, samples)}],
   *                       windowMs, refLine: {value, label}, minMax: smallest y range top}
   */
  constructor(card, opt) {
    this.opt = opt;
    this.card = card;
    card.classList.add("chart");
    const head = document.createElement("div");
    head.className = "chart-head";
    const h = document.createElement("h3");
    h.textContent = opt.title;
    const unit = document.createElement("span");
    unit.className = "unit";
    unit.textContent = opt.unitLabel || "";
    h.append(" ", unit);
    this.legend = document.createElement("div");
    this.legend.className = "legend";
    head.append(h, this.legend);
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("role", "img");
    this.canvas.setAttribute("aria-label", opt.title);
    card.append(head, this.canvas);
    this.fmt = units[opt.unit] || units.count;
  }

  /**
   * draw plots samples (oldest first) over the window ending at now (ms):
   * windowMs if given, else opt.windowMs, else 15 minutes.
   */
  draw(samples, now, windowMs) {
    const opt = this.opt;
    const series = typeof opt.series === "function" ? opt.series(samples) : opt.series;
    const cv = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const cssW = cv.clientWidth || 400;
    const cssH = cv.clientHeight || 160;
    if (cv.width !== Math.round(cssW * dpr) || cv.height !== Math.round(cssH * dpr)) {
      cv.width = Math.round(cssW * dpr);
      cv.height = Math.round(cssH * dpr);
    }
    const g = cv.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);
    g.font = FONT;

    windowMs = windowMs || opt.windowMs || 15 * 60 * 1000;
    const t1 = now;
    const t0 = t1 - windowMs;
    // Values of every series, and the y range.
    let top = opt.minMax ?? 1;
    const values = series.map((s) => samples.map((smp, i) => {
      const v = s.value(smp, i, samples);
      if (v != null && Number.isFinite(v) && smp.t >= t0) top = Math.max(top, v);
      return v;
    }));
    // The reference line (the tick budget) widens the range only when the
    // data comes near it; otherwise the data would be a flat line at 0.
    const ref = opt.refLine && opt.refLine.value > 0 ? opt.refLine : null;
    const refShown = ref && top >= ref.value * 0.25;
    if (refShown) top = Math.max(top, ref.value * 1.05);
    const step = niceStep(top, 4);
    top = Math.ceil((top * 1.05) / step) * step;

    // Plot area: room for the y labels on the left and the time below.
    const labelW = Math.max(...[0, step, top].map((v) => g.measureText(this.fmt(v)).width)) + 8;
    const L = Math.ceil(labelW), R = cssW - 6, T = 6, B = cssH - 30;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (R - L);
    const y = (v) => B - (v / top) * (B - T);

    // Grid and y labels.
    g.strokeStyle = GRID;
    g.fillStyle = AXIS;
    g.lineWidth = 1;
    g.textAlign = "right";
    g.textBaseline = "middle";
    for (let v = 0; v <= top + step / 2; v += step) {
      const yy = Math.round(y(v)) + 0.5;
      g.beginPath();
      g.moveTo(L, yy);
      g.lineTo(R, yy);
      g.stroke();
      g.fillText(this.fmt(v), L - 4, yy);
    }
    // Time axis: a tick every few minutes, clock time and minutes ago.
    const minute = 60000;
    const every = windowMs >= 10 * minute ? 3 * minute : windowMs >= 4 * minute ? minute : 30000;
    g.textAlign = "center";
    g.textBaseline = "top";
    for (let t = Math.ceil(t0 / every) * every; t <= t1; t += every) {
      const xx = Math.round(x(t)) + 0.5;
      g.beginPath();
      g.moveTo(xx, T);
      g.lineTo(xx, B);
      g.stroke();
      const ago = Math.round((t1 - t) / minute);
      g.fillText(clock(t), xx, B + 3);
      g.fillText(ago === 0 ? "now" : `−${ago} min`, xx, B + 15);
    }
    g.strokeStyle = AXIS;
    g.beginPath();
    g.moveTo(L + 0.5, T);
    g.lineTo(L + 0.5, B + 0.5);
    g.lineTo(R, B + 0.5);
    g.stroke();

    // Reference line (the tick budget), or a note that it is far above.
    if (ref && !refShown) {
      g.fillStyle = "#d97706";
      g.textAlign = "right";
      g.textBaseline = "top";
      g.fillText(`${ref.label}: far above ↑`, R - 2, T + 1);
    }
    if (refShown) {
      const yy = Math.round(y(ref.value)) + 0.5;
      g.save();
      g.setLineDash([4, 4]);
      g.strokeStyle = "#d97706";
      g.beginPath();
      g.moveTo(L, yy);
      g.lineTo(R, yy);
      g.stroke();
      g.restore();
      g.fillStyle = "#d97706";
      g.textAlign = "left";
      g.textBaseline = "bottom";
      g.fillText(ref.label, L + 4, yy - 2);
    }

    // Series: a gap where a second is missing. The first series is drawn
    // last, on top.
    g.lineWidth = 1.5;
    g.lineJoin = "round";
    [...series.keys()].reverse().forEach((k) => {
      const s = series[k];
      g.strokeStyle = s.color;
      g.beginPath();
      let pen = false, prevT = 0;
      samples.forEach((smp, i) => {
        const v = values[k][i];
        if (smp.t < t0 || v == null || !Number.isFinite(v)) {
          pen = false;
          return;
        }
        const px = x(smp.t), py = y(Math.min(v, top));
        if (pen && smp.t - prevT <= 2500) g.lineTo(px, py);
        else g.moveTo(px, py);
        pen = true;
        prevT = smp.t;
      });
      g.stroke();
    });

    // Legend with the latest values.
    this.legend.replaceChildren(...series.map((s, k) => {
      const item = document.createElement("span");
      item.className = "legend-item";
      const sw = document.createElement("i");
      sw.style.background = s.color;
      const last = values[k].length ? values[k][values[k].length - 1] : null;
      item.append(sw, `${s.label} ${last == null ? "–" : this.fmt(last)}`);
      return item;
    }));
  }
}
