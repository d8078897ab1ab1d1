const { fakeWx, ok, problem } = require('./helpers/fake-wx');
const { client } = require('./helpers/client');
const categories = require('../logic/categories');
const { createPlacesLogic, decorate, markers } = require('../logic/places');
const { wgs84ToGcj02 } = require('../utils/coords');
const { createFinesLogic, fineView, checkLookup } = require('../logic/fines');
const { createPointsLogic, catalogue } = require('../logic/points');
const { createLoginLogic, checkPhone, countdown, codeButtonLabel } = require('../logic/login');
const { createCasesLogic, view } = require('../logic/cases');
const { createDrafts } = require('../utils/drafts');
const { locate } = require('../logic/location');
const home = require('../logic/home');
const format = require('../utils/format');

const TREE = [
  {
    code: 'BJ01',
    name: '公用设施',
    kind: 'component',
    children: [
      { code: 'BJ0110', name: '井盖', kind: 'component', hints: ['井盖丢失、破损'], children: [] },
      { code: 'BJ0101', name: '上水井盖', kind: 'component', hints: [], children: [] },
    ],
  },
  {
    code: 'SJ01',
    name: '市容环境',
    kind: 'event',
    children: [{ code: 'SJ0102', name: '暴露垃圾', kind: 'event', hints: ['垃圾堆放未及时清运'], children: [] }],
  },
];

describe('categories', () => {
  const flat = categories.flatten(TREE);

  test('flatten keeps the major and hints', () => {
    expect(flat).toHaveLength(3);
    expect(flat[0]).toEqual({ code: 'BJ0110', name: '井盖', major: '公用设施', hints: ['井盖丢失、破损'] });
  });

  test('search by name (names first), code, major or hint', () => {
    expect(categories.search(flat, '井盖').map((c) => c.code)).toEqual(['BJ0110', 'BJ0101']);
    expect(categories.search(flat, 'sj0102').map((c) => c.code)).toEqual(['SJ0102']);
    expect(categories.search(flat, '市容').map((c) => c.code)).toEqual(['SJ0102']);
    expect(categories.search(flat, '清运').map((c) => c.code)).toEqual(['SJ0102']);
    expect(categories.search(flat, '')).toHaveLength(3);
    expect(categories.search(flat, '没有这个')).toEqual([]);
  });

  test('the tree is cached for a day and used when offline', async () => {
    let online = true;
    const wx = fakeWx({ server: () => (online ? ok(TREE) : 'fail') });
    const api = client(wx);
    expect(await categories.load(api, wx, 1000)).toEqual(TREE);
    expect(await categories.load(api, wx, 2000)).toEqual(TREE);
    expect(wx.calls.request).toHaveLength(1);
    online = false;
    expect(await categories.load(api, wx, 1000 + 25 * 3600 * 1000)).toEqual(TREE); // stale, but offline
  });
});

describe('places', () => {
  const toilet = {
    code: 'WC001',
    kind: 'toilet',
    kind_label: '公厕',
    name: '人民公园公厕',
    address: '人民公园东门',
    lng: 114.9216,
    lat: 27.8156,
    distance_m: 230.4,
    open_hours: '06:00-22:00',
    open_now: true,
    accessible: true,
    baby_room: false,
    ev_charging: false,
    free: true,
    fee_note: '',
    capacity: null,
    available_spaces: null,
  };

  test('WGS-84 from the API becomes GCJ-02 for the map (a few hundred metres off in China)', () => {
    const g = wgs84ToGcj02(114.9216, 27.8156);
    expect(g.lng).toBeGreaterThan(114.9216 + 0.003);
    expect(g.lng).toBeLessThan(114.9216 + 0.008);
    expect(Math.abs(g.lat - 27.8156)).toBeLessThan(0.005);
    expect(wgs84ToGcj02(2.35, 48.85)).toEqual({ lng: 2.35, lat: 48.85 }); // outside China unchanged
  });

  test('a place is decorated for the list', () => {
    const d = decorate(toilet);
    expect(d.distanceText).toBe('230 米');
    expect(d.tags).toEqual(['开放中', '无障碍']);
    expect(d.spaces).toBe('');
    const lot = decorate(Object.assign({}, toilet, { kind: 'parking', free: false, fee_note: '首小时 5 元', available_spaces: 12, capacity: 80, open_now: null, accessible: false }));
    expect(lot.tags).toEqual(['首小时 5 元']);
    expect(lot.spaces).toBe('空位 12 / 80');
    expect(decorate(Object.assign({}, toilet, { kind: 'parking', available_spaces: null })).spaces).toBe('空位未知');
  });

  test('nearest asks in GCJ-02 with the filters, and markers follow the list', async () => {
    const wx = fakeWx({ server: () => ok({ items: [toilet] }) });
    const logic = createPlacesLogic({ api: client(wx, { signedIn: false }), wx });
    const places = await logic.nearest({ kind: 'toilet', lng: 114.92, lat: 27.81, openNow: true, accessible: true });
    expect(wx.calls.request[0].url).toBe(
      'http://api.test/api/v1/places?kind=toilet&lng=114.92&lat=27.81&coord=gcj02&limit=20&open_now=true&accessible=true'
    );
    const m = markers(places);
    expect(m[0]).toMatchObject({ id: 0, longitude: places[0].gcjLng, latitude: places[0].gcjLat, title: '人民公园公厕' });
    await logic.nearest({ kind: 'parking', lng: 1, lat: 2 });
    expect(wx.calls.request[1].url).not.toMatch(/open_now|accessible/);
    await expect(logic.nearest({ kind: 'bus', lng: 1, lat: 2 })).rejects.toThrow('未知的设施类型');
  });

  test('navigation opens the GCJ-02 position', async () => {
    const wx = fakeWx();
    const logic = createPlacesLogic({ api: client(wx), wx });
    const place = decorate(toilet);
    await logic.navigate(place);
    expect(wx.calls.other[0].params).toMatchObject({ longitude: place.gcjLng, latitude: place.gcjLat, name: '人民公园公厕' });
  });

  test('location is asked in GCJ-02, with a fallback when refused', async () => {
    await expect(locate(fakeWx(), { lng: 1, lat: 2 })).resolves.toEqual({ lng: 114.9216, lat: 27.8156, located: true });
    await expect(locate(fakeWx({ locationFails: true }), { lng: 1, lat: 2 })).resolves.toEqual({ lng: 1, lat: 2, located: false });
  });
});

const FINE = {
  decision_no: '渝城罚〔2026〕118号',
  status: 'unpaid',
  amount_fen: 20000,
  amount_yuan: '200.00',
  late_days: 3,
  late_fee_fen: 18000,
  late_fee_yuan: '180.00',
  total_fen: 38000,
  total_yuan: '380.00',
  served_on: '2026-10-01',
  due_on: '2026-10-16',
  deferral_until: null,
  instalment_note: '',
  as_of: '2026-11-21',
};

const ORDER = {
  out_trade_no: 'ZF20261121000001',
  status: 'pending',
  amount_fen: 38000,
  amount_yuan: '380.00',
  fine_fen: 20000,
  late_fee_fen: 18000,
  expires_at: '2026-11-21T12:00:00+08:00',
  wechat: { appId: 'wx1', timeStamp: '1', nonceStr: 'n', package: 'prepay_id=p', signType: 'RSA', paySign: 's' },
};

describe('fines', () => {
  function finesServer(statuses) {
    let polled = 0;
    return (req) => {
      if (req.url.includes('/fines/lookup')) return ok(FINE);
      if (req.url.endsWith('/payments') && req.method === 'POST') return ok(ORDER);
      if (req.url.includes('/payments/ZF')) {
        const status = statuses[Math.min(polled++, statuses.length - 1)];
        return ok(Object.assign({}, ORDER, { status, paid_at: null, receipt_no: status === 'paid' ? 'PJ001' : null }));
      }
      return problem(404, 'not_found', 'x');
    };
  }

  test('lookup checks the inputs and shows the late fee', async () => {
    expect(checkLookup('', '张三')).toBe('请输入决定书编号');
    expect(checkLookup('D1', ' ')).toBe('请输入当事人姓名或单位名称');
    const wx = fakeWx({ server: finesServer(['paid']) });
    const logic = createFinesLogic({ api: client(wx, { signedIn: false }), wx, sleep: async () => {} });
    const fine = await logic.lookup(' 渝城罚〔2026〕118号 ', '张三');
    expect(fine).toMatchObject({ statusLabel: '未缴纳', payable: true, hasLateFee: true, total_yuan: '380.00' });
    expect(wx.calls.request[0].url).toContain('decision_no=%E6%B8%9D');
    expect(fineView(Object.assign({}, FINE, { status: 'paid', total_fen: null })).payable).toBe(false);
  });

  test('pay: order with a kept key, wx.requestPayment with the API params, then the status until paid', async () => {
    const wx = fakeWx({ server: finesServer(['pending', 'paid']) });
    const sleeps = [];
    const logic = createFinesLogic({ api: client(wx), wx, sleep: async (ms) => sleeps.push(ms) });
    const result = await logic.pay(fineView(FINE), ' 张三 ', 'mp-pay-key-01');
    expect(result.paid).toBe(true);
    expect(result.status).toMatchObject({ statusLabel: '已支付', receipt_no: 'PJ001' });
    const create = wx.calls.request[0];
    expect(create.url).toBe(`http://api.test/api/v1/fines/${encodeURIComponent(FINE.decision_no)}/payments`);
    expect(create.header['Idempotency-Key']).toBe('mp-pay-key-01');
    expect(create.data).toEqual({ channel: 'wechat', client: 'miniprogram', party_name: '张三' });
    expect(wx.calls.other[0].params).toMatchObject(ORDER.wechat);
    expect(sleeps).toEqual([1000]);
  });

  test('a cancelled payment is not an error; a failed one is told', async () => {
    const cancelled = fakeWx({ server: finesServer(['pending']), paymentCancelled: true });
    const logic = createFinesLogic({ api: client(cancelled), wx: cancelled, sleep: async () => {} });
    await expect(logic.pay(fineView(FINE), '张三', 'k-00000001')).resolves.toMatchObject({ paid: false, cancelled: true });
    const failed = fakeWx({ server: finesServer(['pending']), paymentFails: true });
    const logic2 = createFinesLogic({ api: client(failed), wx: failed, sleep: async () => {} });
    await expect(logic2.pay(fineView(FINE), '张三', 'k-00000001')).rejects.toThrow('支付未完成，请稍后重试');
  });

  test('a payment still pending after polling is reported as pending', async () => {
    const wx = fakeWx({ server: finesServer(['pending']) });
    const logic = createFinesLogic({ api: client(wx), wx, sleep: async () => {} });
    const result = await logic.pay(fineView(FINE), '张三', 'k-00000001');
    expect(result).toMatchObject({ paid: false, cancelled: false });
    expect(result.status.statusLabel).toBe('待支付');
  });

  test('an already paid fine is told in Chinese', async () => {
    const wx = fakeWx({ server: () => problem(409, 'fine_already_paid', 'x') });
    const logic = createFinesLogic({ api: client(wx), wx, sleep: async () => {} });
    await expect(logic.pay(fineView(FINE), '张三', 'k-00000001')).rejects.toMatchObject({ message: '该罚款已缴纳，无需重复缴纳' });
  });

  test('the receipt is downloaded with the name in a header, not the address, and opened', async () => {
    const wx = fakeWx({ server: () => ({ statusCode: 200, tempFilePath: 'wxfile://tmp/r.pdf' }) });
    const logic = createFinesLogic({ api: client(wx, { signedIn: false }), wx });
    await logic.openReceipt('ZF1', '张三');
    const dl = wx.calls.downloadFile[0];
    expect(dl.url).toBe('http://api.test/api/v1/payments/ZF1/receipt.pdf');
    expect(dl.header['X-Party-Name']).toBe(encodeURIComponent('张三'));
    expect(wx.calls.other[0].params).toMatchObject({ filePath: 'wxfile://tmp/r.pdf', fileType: 'pdf' });
  });

  test('history labels the order states', async () => {
    const wx = fakeWx({ server: () => ok({ items: [{ out_trade_no: 'ZF1', status: 'refunded' }], total: 1 }) });
    const logic = createFinesLogic({ api: client(wx), wx });
    expect((await logic.history()).items[0].statusLabel).toBe('已退款');
  });
});

describe('points', () => {
  test('the catalogue says what is affordable', () => {
    const items = catalogue(
      [
        { code: 'A', name: '话费 10 元', kind: 'voucher', points_cost: 10, in_stock: true },
        { code: 'B', name: '环保袋', kind: 'goods', points_cost: 30, in_stock: true },
        { code: 'C', name: '雨伞', kind: 'goods', points_cost: 5, in_stock: false },
      ],
      15
    );
    expect(items.map((i) => [i.affordable, i.note])).toEqual([
      [true, ''],
      [false, '还差 15 分'],
      [false, '已兑完'],
    ]);
  });

  test('overview, ledger and redeem with the given key', async () => {
    const wx = fakeWx({
      server: (req) => {
        if (req.url.endsWith('/balance')) return ok({ balance: 15 });
        if (req.url.endsWith('/items')) return ok([{ code: 'HF10', name: '话费', kind: 'voucher', points_cost: 10, in_stock: true }]);
        if (req.url.includes('/ledger')) return ok({ items: [{ points: 10, reason: 'report_registered', reason_label: '上报问题被立案', note: '', at: '2026-11-21T09:00:00+08:00' }], total: 3 });
        if (req.url.endsWith('/redemptions') && req.method === 'POST') return ok({ id: 1, item: '话费', points: 10, status: 'pending', at: 'x' }, 201);
        if (req.url.endsWith('/redemptions')) return ok([{ id: 1, item: '话费', points: 10, status: 'fulfilled', at: '2026-11-21T09:00:00+08:00' }]);
        return problem(404, 'not_found', 'x');
      },
    });
    const logic = createPointsLogic({ api: client(wx) });
    const o = await logic.overview();
    expect(o.balance).toBe(15);
    expect(o.items[0].affordable).toBe(true);
    const l = await logic.ledger(0, 1);
    expect(l.items[0]).toMatchObject({ pointsText: '+10', when: '2026-11-21 09:00', gain: true });
    expect(l.more).toBe(true);
    await logic.redeem('HF10', 'mp-redeem-01');
    const post = wx.calls.request.find((r) => r.method === 'POST');
    expect(post.header['Idempotency-Key']).toBe('mp-redeem-01');
    expect(post.data).toEqual({ item: 'HF10' });
    expect((await logic.redemptions())[0].statusLabel).toBe('已发放');
  });
});

describe('login', () => {
  test('WeChat login posts the wx.login code and keeps the token', async () => {
    const wx = fakeWx({ server: () => ok({ token: 'zc1.w', token_type: 'bearer', expires_in: 86400, citizen: { id: 3, phone_masked: '' } }) });
    const api = client(wx, { signedIn: false });
    const logic = createLoginLogic({ api, wx });
    const citizen = await logic.wechat();
    expect(wx.calls.request[0].data).toEqual({ code: 'wx-code-1' });
    expect(citizen.id).toBe(3);
    expect(api.getToken()).toBe('zc1.w');
    expect(logic.needsPhone()).toBe(true);
    logic.logout();
    expect(api.isSignedIn()).toBe(false);
  });

  test('phone login and binding check the inputs first', async () => {
    const wx = fakeWx({ server: () => ok({ token: 'zc1.p', expires_in: 86400, citizen: { id: 4, phone_masked: '138****8000' } }) });
    const api = client(wx, { signedIn: false });
    const logic = createLoginLogic({ api, wx });
    await expect(logic.sendCode('123')).rejects.toThrow('请输入正确的 11 位手机号码');
    await expect(logic.phone('13800138000', '12')).rejects.toThrow('请输入 6 位数字验证码');
    expect(wx.calls.request).toHaveLength(0);
    await logic.phone(' 13800138000 ', '123456 ');
    expect(wx.calls.request[0].data).toEqual({ phone: '13800138000', code: '123456' });
    await logic.bindPhone('13800138000', '654321');
    expect(wx.calls.request[1].url).toBe('http://api.test/api/v1/auth/wechat/bind-phone');
    expect(wx.calls.request[1].header.Authorization).toBe('Bearer zc1.p');
    expect(logic.needsPhone()).toBe(false);
  });

  test('phone checks and the resend countdown', () => {
    expect(checkPhone('13800138000')).toBe('');
    expect(checkPhone('12800138000')).not.toBe('');
    expect(codeButtonLabel(countdown(59))).toBe('59 秒后重发');
    expect(codeButtonLabel(countdown(0))).toBe('获取验证码');
  });
});

describe('cases', () => {
  const CASE = {
    case_no: 'C1',
    status: '已办结',
    category: '井盖',
    description: '井盖丢失',
    address: '劳动北路',
    reported_at: '2026-11-20T08:30:00+08:00',
    timeline: [{ at: '2026-11-20T08:30:00+08:00', step: '已提交', text: '您反映的问题已提交，等待受理' }],
    report_photos: [{ upload_id: 'U1', stage: 'report' }],
    handling_photos: [{ upload_id: 'U2', stage: 'handling' }],
    reply: '已补装井盖',
    can_rate: true,
    rating: null,
    rating_comment: null,
  };

  test('view: status class, photos, rated', () => {
    const v = view(CASE);
    expect(v).toMatchObject({ statusClass: 'closed', when: '2026-11-20 08:30', reportPhotoIds: ['U1'], handlingPhotoIds: ['U2'], rated: false });
    expect(view(Object.assign({}, CASE, { rating: 5 })).rated).toBe(true);
  });

  test('pages, detail, photos and rating', async () => {
    const wx = fakeWx({
      server: (req) => {
        if (req.kind === 'downloadFile') return req.url.includes('U2') ? 'fail' : { statusCode: 200, tempFilePath: 'wxfile://tmp/u1.jpg' };
        if (req.url.includes('/rating')) return ok(Object.assign({}, CASE, { rating: 4, can_rate: false }));
        if (req.url.includes('/reports/mine') || req.url.includes('/reports/following')) return ok({ items: [CASE], total: 2 });
        return ok(CASE);
      },
    });
    const logic = createCasesLogic({ api: client(wx, { retries: 0 }) });
    const page = await logic.page('following', 0, 1);
    expect(wx.calls.request[0].url).toBe('http://api.test/api/v1/reports/following?limit=1&offset=0');
    expect(page.more).toBe(true);
    const c = await logic.detail('C1');
    expect(c.timeline).toHaveLength(1);
    expect(await logic.photoPaths(['U1', 'U2'])).toEqual(['wxfile://tmp/u1.jpg', '']);
    await expect(logic.rate('C1', 0, '')).rejects.toThrow('请选择 1 到 5 星');
    const rated = await logic.rate('C1', 4, ' 很快 ');
    expect(rated.rated).toBe(true);
    const post = wx.calls.request.find((r) => r.method === 'POST');
    expect(post.data).toEqual({ stars: 4, comment: '很快' });
  });
});

describe('home', () => {
  test('recent cases, points and drafts; a failing part does not break the page', async () => {
    const wx = fakeWx({
      server: (req) => (req.url.includes('/balance') ? problem(500, 'internal_error', 'x') : ok({ items: [{ case_no: 'C1', status: '处置中', reported_at: '' }], total: 1 })),
    });
    const drafts = createDrafts({ wx });
    drafts.save({ id: 'd', idempotencyKey: 'mp-000000001', form: {}, photos: [] });
    const data = await home.load({ api: client(wx, { retries: 0 }), drafts });
    expect(data).toMatchObject({ signedIn: true, balance: null, drafts: 1 });
    expect(data.recent[0].statusClass).toBe('working');
    const out = await home.load({ api: client(fakeWx(), { signedIn: false }), drafts: createDrafts({ wx: fakeWx() }) });
    expect(out).toEqual({ signedIn: false, recent: [], balance: null, drafts: 0 });
  });
});

describe('format', () => {
  test('distances, money, times', () => {
    expect(format.distance(999.6)).toBe('1000 米');
    expect(format.distance(1234)).toBe('1.2 公里');
    expect(format.distance(null)).toBe('');
    expect(format.yuan(38005)).toBe('380.05');
    expect(format.time('2026-11-21T09:05:00+08:00')).toBe('2026-11-21 09:05');
    expect(format.shortTime('2026-11-21T09:05:00+08:00')).toBe('11-21 09:05');
    expect(format.points(-10)).toBe('-10');
  });
});

describe('fines after a failed payment sheet', () => {
  test('the error carries the order so the page can check its status later', async () => {
    const wx = fakeWx({
      server: (req) => (req.method === 'POST' ? ok(ORDER) : ok(Object.assign({}, ORDER, { status: 'paid', receipt_no: 'PJ1' }))),
      paymentFails: true,
    });
    const logic = createFinesLogic({ api: client(wx), wx, sleep: async () => {} });
    const err = await logic.pay(fineView(FINE), '张三', 'k-00000001').catch((e) => e);
    expect(err.order.out_trade_no).toBe(ORDER.out_trade_no);
    const status = await logic.confirm(err.order.out_trade_no, 1);
    expect(status).toMatchObject({ status: 'paid', statusLabel: '已支付', receipt_no: 'PJ1' });
  });
});
