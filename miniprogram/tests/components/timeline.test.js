/**
 * @jest-environment jsdom
 */
const path = require('path');
const simulate = require('miniprogram-simulate');

// One component per test file: miniprogram-simulate compiles templates by file name (index.wxml),
// so two components loaded in one file would share a template.
const root = path.join(__dirname, '../../components');

const ids = {};

function render(name, props) {
  ids[name] = ids[name] || simulate.load(path.join(root, name, 'index'));
  const id = ids[name];
  const comp = simulate.render(id, props);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

describe('timeline', () => {
  const entries = [
    { at: '2026-11-20T08:30:00+08:00', step: '已提交', text: '您反映的问题已提交，等待受理' },
    { at: '2026-11-20T09:10:00+08:00', step: '已立案', text: '经核实，问题已立案' },
    { at: '2026-11-21T15:00:00+08:00', step: '已办结', text: '已补装井盖' },
  ];

  test('newest first, the current step highlighted, times in Beijing time as written', () => {
    const comp = render('timeline', { entries });
    const rows = comp.querySelectorAll('.row');
    expect(rows).toHaveLength(3);
    expect(rows[0].dom.className).toContain('current');
    expect(rows[1].dom.className).not.toContain('current');
    expect(comp.querySelectorAll('.step')[0].dom.textContent).toBe('已办结');
    expect(comp.querySelectorAll('.when')[0].dom.textContent).toBe('2026-11-21 15:00');
    expect(comp.querySelectorAll('.text')[2].dom.textContent).toBe('您反映的问题已提交，等待受理');
  });

  test('updates when entries change; says so when empty', async () => {
    const comp = render('timeline', { entries: [] });
    expect(comp.querySelector('.empty').dom.textContent).toBe('暂无进度');
    comp.setData({ entries: entries.slice(0, 1) });
    await simulate.sleep(0);
    expect(comp.querySelectorAll('.row')).toHaveLength(1);
  });
});
