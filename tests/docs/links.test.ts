// Every relative link of the README, the CHANGELOG and docs/ reaches a file, and every #anchor a heading of
// it (as GitHub makes anchors), so moving or renaming a page cannot leave a reader at a dead end.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT } from '../support/paths.ts';

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const anchorOf = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

const anchorsOf = (file: string) =>
  new Set([...readFileSync(file, 'utf8').matchAll(/^#{1,6} (.+)$/gm)].map(([, heading]) => anchorOf(heading!)));

describe('links of the README and docs/', () => {
  it('each relative link reaches a file, and each anchor a heading of it', () => {
    const files = ['README.md', 'CHANGELOG.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter(
      (f) => f.endsWith('.md'),
    );
    const dead: string[] = [];
    let checked = 0;
    for (const file of files) {
      const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:)/.test(target!)) continue;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const linked = path ? normalize(join(ROOT, dirname(file), path)) : join(ROOT, file);
        checked++;
        if (!existsSync(linked)) dead.push(`${file}: ${target} (no such file)`);
        else if (anchor && linked.endsWith('.md') && !anchorsOf(linked).has(anchor))
          dead.push(`${file}: ${target} (no such heading)`);
      }
    }
    assert.ok(checked > 20, `${checked} links checked`);
    assert.deepEqual(dead, []);
  });
});
