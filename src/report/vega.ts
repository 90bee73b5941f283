// Plots as Vega-Lite specs, compiled to Vega and rendered to SVG in Node (no browser, no
// network: data are inline values and the loader refuses every URL).
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';

export type { TopLevelSpec };

const noNetwork = {
  load: async (uri: string): Promise<string> => {
    throw new Error(`plots are rendered offline: ${uri} was not loaded`);
  },
  sanitize: async (uri: string): Promise<{ href: string }> => {
    throw new Error(`plots are rendered offline: ${uri} was not loaded`);
  },
  http: async (): Promise<string> => {
    throw new Error('plots are rendered offline');
  },
  file: async (): Promise<string> => {
    throw new Error('plots are rendered offline');
  },
};

/** The report's look for every plot. */
export const PLOT_CONFIG = {
  font: 'system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 11, titleFontSize: 12, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12 },
  title: { fontSize: 13, anchor: 'start' as const },
};

/** Compile a Vega-Lite spec and render it to an SVG string. */
export async function renderVegaLite(spec: TopLevelSpec): Promise<string> {
  const compiled = vegaLite.compile({ config: PLOT_CONFIG, ...spec } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', loader: noNetwork as unknown as vega.Loader });
  try {
    const svg = await view.toSVG();
    // the SVG is inlined in HTML: no XML prolog, and an accessible role
    return svg.replace(/^<\?xml[^>]*>\s*/, '').replace('<svg ', '<svg role="img" ');
  } finally {
    view.finalize();
  }
}
