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

const TREE = [
  {
    code: 'BJ01',
    name: '公用设施',
    kind: 'component',
    children: [
      { code: 'BJ0110', name: '井盖', kind: 'component', hints: ['井盖丢失、破损、移位'], children: [] },
      { code: 'BJ0120', name: '路灯', kind: 'component', hints: [], children: [] },
    ],
  },
  {
    code: 'SJ01',
    name: '市容环境',
    kind: 'event',
    children: [{ code: 'SJ0102', name: '暴露垃圾', kind: 'event', hints: ['垃圾堆放未及时清运'], children: [] }],
  },
];

describe('category-picker', () => {
  test('opens, searches (also by hint), picks, and shows the register hints', async () => {
    const comp = render('category-picker', { categories: TREE, value: '' });
    expect(comp.querySelector('.placeholder').dom.textContent).toBe('请选择问题类别');
    expect(comp.querySelector('.panel')).toBeUndefined();

    comp.querySelector('.current').dispatchEvent('tap');
    await simulate.sleep(0);
    expect(comp.querySelectorAll('.result')).toHaveLength(3);

    const input = comp.querySelector('.search-input');
    input.dispatchEvent('input', { detail: { value: '清运' } });
    await simulate.sleep(0);
    const results = comp.querySelectorAll('.result');
    expect(results).toHaveLength(1);
    expect(results[0].dom.textContent).toContain('暴露垃圾');

    input.dispatchEvent('input', { detail: { value: '没有的东西' } });
    await simulate.sleep(0);
    expect(comp.querySelector('.empty').dom.textContent).toContain('没有找到相关类别');

    input.dispatchEvent('input', { detail: { value: '井盖' } });
    await simulate.sleep(0);
    const picked = jest.fn();
    comp.addEventListener('change', (e) => picked(e.detail));
    comp.querySelectorAll('.result')[0].dispatchEvent('tap');
    await simulate.sleep(0);
    expect(picked).toHaveBeenCalledWith({ code: 'BJ0110', name: '井盖', hints: ['井盖丢失、破损、移位'] });
    expect(comp.querySelector('.panel')).toBeUndefined();
    expect(comp.querySelector('.current-name').dom.textContent).toBe('公用设施 · 井盖');
    expect(comp.querySelector('.hints').dom.textContent).toContain('井盖丢失、破损、移位');
  });

  test('a given value is shown as selected', () => {
    const comp = render('category-picker', { categories: TREE, value: 'SJ0102' });
    expect(comp.querySelector('.current-name').dom.textContent).toBe('市容环境 · 暴露垃圾');
  });
});
