/** The look every tsload HTML page shares (a run's report, an experiment's). */
export const BASE_CSS = `
:root { color-scheme: light; }
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
p.meta { color: #555; margin-top: 0; }
figure { margin: 1.5rem 0 2.5rem; }
figure svg { max-width: 100%; height: auto; display: block; }
figcaption { font-weight: 600; margin: .3rem 0; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0; }
th, td { border: 1px solid #ddd; padding: .2rem .5rem; }
th { background: #f3f3f3; text-align: left; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child, td.text { text-align: left; }
`;
