// Every Mermaid diagram in the README and docs/ renders: each is drawn by the real mermaid library in
// Debian's chromium, as the common Git hosts draw it, so a syntax error cannot reach a reader.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderedDom } from '../../src/local/chromium.ts';
import { ROOT } from '../support/paths.ts';

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

describe('the diagrams of the README and docs/', () => {
  it('each Mermaid block renders to an SVG that has every node it names', async () => {
    const files = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
      f.endsWith('.md'),
    );
    const blocks = files.flatMap((file) =>
      [...readFileSync(join(ROOT, file), 'utf8').matchAll(/```mermaid\n([\s\S]*?)```/g)].map(([, text]) => ({
        file,
        text: text!,
      })),
    );
    assert.ok(blocks.length >= 1, 'the README has its architecture diagram');
    const dir = mkdtempSync(join(tmpdir(), 'ftj-diagrams-'));
    for (const [i, { file, text }] of blocks.entries()) {
      const page = join(dir, `diagram-${i}.html`);
      writeFileSync(
        page,
        `<!doctype html><html><body><pre class="mermaid">${escape(text)}</pre>
<script src="file://${join(ROOT, 'node_modules', 'mermaid', 'dist', 'mermaid.min.js')}"></script>
<script>mermaid.initialize({ startOnLoad: false });
mermaid.run().then(() => { document.title = 'rendered'; }, (e) => { document.title = 'error: ' + e.message; });</script>
</body></html>`,
      );
      const dom = await renderedDom(`file://${page}`);
      assert.equal(/<title>([^<]*)<\/title>/.exec(dom)?.[1], 'rendered', `${file}: diagram ${i + 1} did not render`);
      const nodes = [...text.matchAll(/\b(\w+)\[/g)].map(([, id]) => id!);
      for (const id of new Set(nodes))
        assert.match(dom, new RegExp(`id="[^"]*flowchart-${id}-`), `${file}: node ${id} is drawn`);
    }
  });
});
