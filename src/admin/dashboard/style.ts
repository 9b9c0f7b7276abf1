// The dashboard's one stylesheet, served from memory at /dashboard/style.css (the CSP's
// style-src 'self': no inline style anywhere, no file read from disk).
export const STYLESHEET = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #5b6570; --line: #d6dbe0; --accent: #0b5cad; --bad: #b42318; --warn: #b54708; --ok: #067647; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink); background: #f6f7f9; }
header { display: flex; align-items: center; gap: 1.5rem; padding: .6rem 1.2rem; background: #14202e; color: #fff; }
header h1 { font-size: 1.05rem; margin: 0; }
header nav a { color: #c9d6e3; text-decoration: none; margin-right: 1rem; }
header nav a[aria-current="page"] { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
header .who { margin-left: auto; color: #c9d6e3; display: flex; gap: .6rem; align-items: center; }
main { padding: 1rem 1.2rem 2rem; max-width: 1200px; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid var(--line); }
th, td { text-align: left; padding: .35rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
td code, pre { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; white-space: pre-wrap; word-break: break-all; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: .7rem; }
.card { background: #fff; border: 1px solid var(--line); padding: .6rem .8rem; }
.card .n { font-size: 1.5rem; font-weight: 600; }
.card .l { color: var(--muted); }
.empty { color: var(--muted); font-style: italic; }
.alert { background: #fff4e5; border: 1px solid #f5c27a; padding: .6rem .8rem; margin: .8rem 0; }
.error { background: #fdecea; border: 1px solid #f1a9a0; padding: .6rem .8rem; margin: .8rem 0; }
.ok { color: var(--ok); } .bad { color: var(--bad); } .warn { color: var(--warn); }
form.inline { display: inline; margin: 0 .2rem 0 0; }
form.filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin: .6rem 0; }
form.filters label, form.login label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
input, select, button { font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); background: #fff; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.danger { background: var(--bad); border-color: var(--bad); }
button.quiet { background: transparent; color: #c9d6e3; border-color: #51606f; }
form.login { display: flex; flex-direction: column; gap: .8rem; max-width: 320px; margin: 3rem auto; background: #fff; padding: 1.4rem; border: 1px solid var(--line); }
figure { margin: .6rem 0 1rem; background: #fff; border: 1px solid var(--line); padding: .5rem .7rem; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
figcaption .legend { font-weight: 400; color: var(--muted); margin-left: .8rem; }
svg { width: 100%; height: 130px; display: block; }
svg .axis { stroke: var(--line); fill: var(--muted); font-size: 10px; }
rect.requests { fill: #8fb8e0; } rect.faults { fill: var(--bad); } rect.auth { fill: var(--warn); }
span.requests { color: #8fb8e0; } span.faults { color: var(--bad); } span.auth { color: var(--warn); }
`;
