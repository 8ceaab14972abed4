/**
 * Renders the load harness's samples as an SVG chart with Vega-Lite: request
 * latency over time (the slowest request of each 20 ms bucket), failed
 * requests, and the edit (swap) moments, one row per runner.
 *
 * @module
 */

import * as vega from "npm:vega@6.4.0";
import { compile } from "npm:vega-lite@6.5.0";

/** What the chart needs of one request. */
export interface ChartSample {
  at: number;
  latency: number;
  ok: boolean;
}

/** What the chart needs of one runner. */
export interface ChartRun {
  name: string;
  samples: ChartSample[];
  edits: { at: number }[];
}

const BUCKET_MS = 20;

/**
 * Builds the SVG text of the latency chart.
 *
 * @param runs One entry per runner.
 * @param editEvery Milliseconds between two edits, for the title.
 * @returns The SVG document.
 */
export async function latencyChart(runs: ChartRun[], editEvery = 100): Promise<string> {
  const values: Record<string, unknown>[] = [];
  for (const run of runs) {
    const slowest = new Map<number, number>();
    const failed = new Map<number, number>();
    for (const sample of run.samples) {
      const bucket = Math.floor(sample.at / BUCKET_MS) * BUCKET_MS;
      if (sample.ok) slowest.set(bucket, Math.max(slowest.get(bucket) ?? 0, sample.latency));
      else failed.set(bucket, (failed.get(bucket) ?? 0) + 1);
    }
    for (const [bucket, latency] of slowest) {
      values.push({
        runner: run.name,
        kind: "slowest request",
        t: bucket / 1000,
        ms: Math.max(latency, 0.05),
      });
    }
    for (const [bucket, count] of failed) {
      values.push({ runner: run.name, kind: "failed requests", t: bucket / 1000, ms: 1000, count });
    }
    for (const edit of run.edits) values.push({ runner: run.name, kind: "edit", t: edit.at / 1000 });
  }
  const spec = compile({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    data: { values },
    title: {
      text: `Request latency (GET /) while the app is edited every ${editEvery} ms`,
      subtitle:
        "blue: slowest request of each 20 ms; red crosses: failed requests; grey lines: edits (swaps)",
    },
    facet: {
      row: {
        field: "runner",
        type: "nominal",
        title: null,
        sort: runs.map((r) => r.name),
        header: { labelAngle: 0, labelAlign: "left", labelFontWeight: "bold" },
      },
    },
    spec: {
      width: 760,
      height: 150,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'edit'" }],
          mark: { type: "rule", color: "#bbbbbb", strokeWidth: 0.6 },
          encoding: { x: { field: "t", type: "quantitative" } },
        },
        {
          transform: [{ filter: "datum.kind === 'slowest request'" }],
          mark: { type: "line", color: "#1f77b4", strokeWidth: 0.8, interpolate: "step-after" },
          encoding: {
            x: { field: "t", type: "quantitative", title: "time (s)" },
            y: {
              field: "ms",
              type: "quantitative",
              scale: { type: "log", domain: [0.05, 5000] },
              title: "ms",
            },
          },
        },
        {
          transform: [{ filter: "datum.kind === 'failed requests'" }],
          mark: { type: "point", color: "#d62728", shape: "cross", size: 30, filled: true },
          encoding: {
            x: { field: "t", type: "quantitative" },
            y: { field: "ms", type: "quantitative" },
            tooltip: { field: "count" },
          },
        },
      ],
    },
    resolve: { scale: { x: "shared" } },
  }).spec;
  const view = new vega.View(vega.parse(spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
