/**
 * @jest-environment jsdom
 */
const path = require('path');
const simulate = require('miniprogram-simulate');
const { decorate } = require('../../logic/places');

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

describe('place-list', () => {
  const base = {
    kind: 'toilet',
    kind_label: '公厕',
    address: '人民公园东门',
    lng: 114.92,
    lat: 27.81,
    open_hours: '06:00-22:00',
    open_now: true,
    accessible: true,
    baby_room: true,
    ev_charging: false,
    free: true,
    fee_note: '',
    capacity: null,
    available_spaces: null,
  };
  const places = [
    decorate(Object.assign({}, base, { code: 'WC1', name: '人民公园公厕', distance_m: 120 })),
    decorate(Object.assign({}, base, { code: 'P1', name: '市民广场停车场', kind: 'parking', distance_m: 1530, free: false, fee_note: '2 元/小时', available_spaces: 8, capacity: 100, accessible: false, baby_room: false })),
  ];

  test('lists nearest first with distance, tags and free spaces', () => {
    const comp = render('place-list', { places });
    const rows = comp.querySelectorAll('.place');
    expect(rows).toHaveLength(2);
    expect(comp.querySelectorAll('.name')[0].dom.textContent).toBe('人民公园公厕');
    expect(comp.querySelectorAll('.distance')[0].dom.textContent).toBe('120 米');
    expect(comp.querySelectorAll('.tags')[0].dom.textContent).toContain('无障碍');
    expect(comp.querySelectorAll('.tags')[0].dom.textContent).toContain('母婴室');
    expect(comp.querySelectorAll('.distance')[1].dom.textContent).toBe('1.5 公里');
    expect(comp.querySelectorAll('.spaces')).toHaveLength(1); // only the parking lot has spaces
    expect(comp.querySelectorAll('.spaces')[0].dom.textContent).toBe('空位 8 / 100');
    expect(comp.querySelectorAll('.hours')[0].dom.textContent).toBe('开放时间：06:00-22:00');
  });

  test('"导航" triggers navigate with the index; tapping a row selects it', async () => {
    const comp = render('place-list', { places });
    const navigate = jest.fn();
    const select = jest.fn();
    comp.addEventListener('navigate', (e) => navigate(e.detail));
    comp.addEventListener('select', (e) => select(e.detail));
    comp.querySelectorAll('.go')[1].dispatchEvent('tap');
    await simulate.sleep(0);
    expect(navigate).toHaveBeenCalledWith({ index: 1, code: 'P1' });
    comp.querySelectorAll('.place')[0].dispatchEvent('tap');
    await simulate.sleep(0);
    expect(select).toHaveBeenCalledWith({ index: 0, code: 'WC1' });
  });

  test('loading and empty states', () => {
    expect(render('place-list', { places: [], loading: true }).querySelector('.empty').dom.textContent).toBe('正在查找…');
    expect(render('place-list', { places: [] }).querySelector('.empty').dom.textContent).toBe('附近没有找到符合条件的设施');
  });
});
