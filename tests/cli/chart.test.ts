import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lineChart } from '../../src/cli/chart.ts';

describe('the terminal chart of kubectl ftj describe', () => {
  it('draws a known history: each point in its cell, both series in one cell as #, the ranges and a legend', () => {
    const chart = lineChart(
      [
        {
          label: 'loss',
          symbol: '*',
          points: [
            [1, 2],
            [2, 1.5],
            [3, 1],
            [4, 0.8],
            [5, 0.7],
          ],
        },
        {
          label: 'val_loss',
          symbol: 'o',
          points: [
            [1, 2.2],
            [2, 1.6],
            [3, 1.2],
            [4, 1.1],
            [5, 1.2],
          ],
        },
      ],
      { width: 10, height: 5, xLabel: 'epoch' },
    );
    // Validation loss turning up at epoch 5 while training loss falls: overfitting, at a glance.
    assert.equal(
      chart,
      [
        '2.2 |o',
        '    |*',
        '    |  #',
        '    |     # o o',
        '0.7 |       * *',
        '    +----------',
        '     1        5 epoch',
        '     * loss   o val_loss',
      ].join('\n'),
    );
  });

  it('leaves gaps for missing values and says when there is nothing to draw', () => {
    assert.equal(lineChart([{ label: 'val_acc', symbol: 'o', points: [[1, null]] }]), '  (no data)');
    const gap = lineChart(
      [
        {
          label: 'acc',
          symbol: '*',
          points: [
            [1, 0.5],
            [2, null],
            [3, 0.9],
          ],
        },
      ],
      { width: 3, height: 2 },
    );
    assert.equal(gap.split('\n')[0], '0.9 |  *');
    assert.equal(gap.split('\n')[1], '0.5 |*');
  });
});
