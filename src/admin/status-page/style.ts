import { createHash } from 'node:crypto';

/**
 * The page's only stylesheet. It is served inline and allowed by its hash in the
 * Content-Security-Policy, so the page needs no 'unsafe-inline' and loads nothing else;
 * bars are SVG shapes sized by attributes, not style attributes, for the same reason.
 */
export const STYLE = `
:root{--bg:#f4f5f7;--card:#fff;--fg:#1d2330;--muted:#5d6676;--line:#dde1e7;--ok:#1f8a4c;--warn:#b86e00;--bad:#c62828;--idle:#8a93a3;--track:#e6e9ee}
@media (prefers-color-scheme:dark){:root{--bg:#15181d;--card:#1f242c;--fg:#e7eaef;--muted:#9aa3b2;--line:#343b46;--ok:#3fbf73;--warn:#f0a43a;--bad:#ef5b5b;--idle:#7d8696;--track:#2d343e}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:baseline;padding:1rem 1.25rem;background:var(--card);border-bottom:1px solid var(--line)}
h1{font-size:1.25rem;margin:0;overflow-wrap:anywhere}
header .meta{color:var(--muted);font-size:.9rem}
main{display:grid;gap:1rem;padding:1rem;grid-template-columns:repeat(auto-fill,minmax(min(100%,27rem),1fr));align-items:start}
section{background:var(--card);border:1px solid var(--line);border-left:5px solid var(--idle);border-radius:8px;padding:.8rem 1rem 1rem;min-width:0}
section.ok{border-left-color:var(--ok)}section.warn{border-left-color:var(--warn)}section.bad{border-left-color:var(--bad)}
section.wide{grid-column:1/-1}
h2{font-size:1.05rem;margin:0 0 .6rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}
h3{font-size:.95rem;margin:.9rem 0 .4rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem .9rem;margin:0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.badge{display:inline-block;padding:.05rem .5rem;border-radius:999px;font-size:.8rem;font-weight:600;color:#fff;background:var(--idle);white-space:nowrap}
.badge.ok{background:var(--ok)}.badge.warn{background:var(--warn)}.badge.bad{background:var(--bad)}
.t-ok{color:var(--ok)}.t-warn{color:var(--warn);font-weight:600}.t-bad{color:var(--bad);font-weight:600}
.muted{color:var(--muted)}
.empty{color:var(--muted);font-style:italic;margin:.3rem 0}
.err{color:var(--bad);overflow-wrap:anywhere}
.scroll{overflow-x:auto}
.nw{white-space:nowrap}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .5rem .3rem 0;border-bottom:1px solid var(--line);vertical-align:top}
th{color:var(--muted);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td code,dd code{font-size:.85rem;overflow-wrap:anywhere}
svg.bar{display:block;width:100%;min-width:6rem;height:.7rem;border-radius:3px}
.track{fill:var(--track)}.s-ok{fill:var(--ok)}.s-warn{fill:var(--warn)}.s-bad{fill:var(--bad)}.s-idle{fill:var(--idle)}
.legend{display:flex;flex-wrap:wrap;gap:.2rem .8rem;font-size:.82rem;color:var(--muted);margin-top:.2rem}
.legend i{display:inline-block;width:.65rem;height:.65rem;border-radius:2px;margin-right:.25rem;vertical-align:-.05rem;background:var(--idle)}
.legend i.ok{background:var(--ok)}.legend i.warn{background:var(--warn)}.legend i.bad{background:var(--bad)}
.big{display:flex;flex-wrap:wrap;gap:1.5rem;margin:.2rem 0 .6rem}
.big b{display:block;font-size:1.6rem;line-height:1.1}
.big span{color:var(--muted);font-size:.85rem}
ul.plain{margin:.2rem 0;padding-left:1.1rem}
footer{color:var(--muted);font-size:.8rem;padding:0 1.25rem 1.25rem}
@media (max-width:560px){body{font-size:14px}main{padding:.6rem;gap:.6rem}section{padding:.7rem}header{padding:.8rem}dl{grid-template-columns:1fr}dt{margin-top:.3rem}
thead{display:none}table,tbody,tr,td{display:block;width:100%}tr{border-bottom:1px solid var(--line);padding:.35rem 0}
td{border:0;padding:.1rem 0;display:grid;grid-template-columns:7.5rem 1fr;gap:.6rem;text-align:left}td.n{text-align:left}
td::before{content:attr(data-label);color:var(--muted)}td:empty{display:none}}
`;

/** CSP source for the stylesheet above. */
export const STYLE_HASH = `'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`;
