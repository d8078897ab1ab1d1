const { fakeWx, ok, problem } = require('./helpers/fake-wx');
const { client } = require('./helpers/client');
const { createDrafts } = require('../utils/drafts');
const { createReportLogic, validate, emptyForm, body, placeName } = require('../logic/report');
const subscribe = require('../logic/subscribe');

function form(extra = {}) {
  return Object.assign(emptyForm(), {
    category: 'BJ0110',
    categoryName: '井盖',
    description: '人行道上井盖丢失，夜里很危险',
    lng: 114.9216,
    lat: 27.8156,
    address: '劳动北路',
  }, extra);
}

function setup(server, options = {}) {
  const wx = fakeWx(Object.assign({ server }, options));
  const api = client(wx);
  const drafts = createDrafts({ wx, now: () => 1000 });
  return { wx, api, drafts, logic: createReportLogic({ api, wx, drafts }) };
}

describe('the form', () => {
  test('validation names what is missing, in Chinese', () => {
    expect(validate(emptyForm(), [])).toEqual({
      category: '请选择问题类别',
      description: '请描述问题，至少 5 个字',
      location: '请确定问题位置',
    });
    expect(validate(form(), [])).toEqual({});
    expect(validate(form(), Array(10).fill({})).photos).toBe('最多上传 9 张照片');
  });

  test('the body says GCJ-02 and the mini-program channel', () => {
    expect(body(form({ description: '  有坑 有坑 ', anonymous: true }), ['U1'])).toEqual({
      category: 'BJ0110',
      description: '有坑 有坑',
      lng: 114.9216,
      lat: 27.8156,
      coord: 'gcj02',
      address: '劳动北路',
      upload_ids: ['U1'],
      anonymous: true,
      channel: 'miniprogram',
    });
  });
});

describe('photos', () => {
  test('are compressed before upload', async () => {
    const { wx, logic } = setup(() => ok({ id: 'U1', status: 'pending', exif: { lng: 1, lat: 2 } }, 201));
    const photo = await logic.addPhoto('/tmp/big.jpg');
    expect(wx.calls.other[0]).toMatchObject({ api: 'compressImage', src: '/tmp/big.jpg', quality: 60 });
    expect(wx.calls.uploadFile[0].filePath).toBe('/tmp/big.jpg.compressed.jpg');
    expect(photo).toEqual({ path: '/tmp/big.jpg.compressed.jpg', uploadId: 'U1', exif: { lng: 1, lat: 2 } });
  });

  test('the original is sent when compression fails', async () => {
    const { wx, logic } = setup(() => ok({ id: 'U1', status: 'pending' }, 201), { compressFails: true });
    await logic.addPhoto('/tmp/a.jpg');
    expect(wx.calls.uploadFile[0].filePath).toBe('/tmp/a.jpg');
  });

  test('offline, the photo is kept to upload later', async () => {
    const { logic } = setup(() => 'fail');
    await expect(logic.addPhoto('/tmp/a.jpg')).resolves.toMatchObject({ uploadId: null });
  });

  test('a refused photo is told', async () => {
    const { logic } = setup(() => problem(422, 'upload_corrupt', 'x'));
    await expect(logic.addPhoto('/tmp/a.jpg')).rejects.toMatchObject({ message: '照片已损坏或不完整，请重新拍摄' });
  });
});

describe('duplicates and me too', () => {
  test('duplicates are asked near the pin for the chosen category', async () => {
    const { wx, logic } = setup(() => ok([{ case_no: 'C9', distance_m: 30 }]));
    expect(await logic.duplicates(form({ category: '' }))).toEqual([]);
    expect(wx.calls.request).toHaveLength(0);
    const dups = await logic.duplicates(form());
    expect(dups[0].case_no).toBe('C9');
    expect(wx.calls.request[0].url).toBe(
      'http://api.test/api/v1/reports/duplicates?lng=114.9216&lat=27.8156&coord=gcj02&category=BJ0110'
    );
  });

  test('"me too" follows the case', async () => {
    const { wx, logic } = setup(() => ok({ case_no: 'C9', status: '已立案' }, 201));
    await logic.metoo('C9');
    expect(wx.calls.request[0]).toMatchObject({ method: 'POST', url: 'http://api.test/api/v1/reports/C9/follow' });
  });

  test('the place name comes from the geo API; outside the city the API message is shown', async () => {
    const { api } = setup(() => ok({ street: { name: '城北街道' }, community: { name: '劳动社区' } }));
    await expect(placeName(api, 1, 2)).resolves.toEqual({ address: '城北街道劳动社区', error: '' });
    const far = setup(() => problem(422, 'outside_service_area', '该位置不在城市管理服务范围内'));
    await expect(placeName(far.api, 1, 2)).resolves.toEqual({
      address: '',
      error: '该位置不在城市管理服务范围内，请在地图上调整位置',
    });
  });
});

describe('submitting', () => {
  test('uploads photos kept offline, then files the report with an Idempotency-Key', async () => {
    const { wx, logic } = setup((req) =>
      req.kind === 'uploadFile' ? ok({ id: 'U2' }, 201) : ok({ case_no: '20261121WX0001', status: '已受理' }, 201)
    );
    const result = await logic.submit(form(), [{ path: '/a.jpg', uploadId: 'U1' }, { path: '/b.jpg', uploadId: null }]);
    expect(result.case.case_no).toBe('20261121WX0001');
    expect(wx.calls.uploadFile).toHaveLength(1);
    const req = wx.calls.request[0];
    expect(req.data.upload_ids).toEqual(['U1', 'U2']);
    expect(req.header['Idempotency-Key']).toMatch(/^mp-/);
  });

  test('refuses an incomplete form before sending anything', async () => {
    const { wx, logic } = setup(() => ok({}));
    await expect(logic.submit(form({ category: '' }), [])).rejects.toMatchObject({ message: '请选择问题类别' });
    expect(wx.calls.request).toHaveLength(0);
  });

  test('an API refusal is told and nothing is kept', async () => {
    const { logic, drafts } = setup(() => problem(429, 'report_rate_limited', '您上报得太频繁了，请稍后再试'));
    await expect(logic.submit(form(), [])).rejects.toMatchObject({ message: '您今天上报得太频繁了，请稍后再试' });
    expect(drafts.list()).toHaveLength(0);
  });
});

describe('offline drafts', () => {
  test('a report written without network is kept with its photos and sent later with the same key', async () => {
    let online = false;
    const { wx, api, drafts, logic } = setup((req) => {
      if (!online) return 'fail';
      return req.kind === 'uploadFile' ? ok({ id: 'U9' }, 201) : ok({ case_no: 'C1', status: '已受理' }, 201);
    });
    const result = await logic.submit(form(), [{ path: 'wxfile://tmp/photo.jpg', uploadId: null }]);
    expect(result.draft).toBeDefined();
    const kept = drafts.list();
    expect(kept).toHaveLength(1);
    expect(kept[0].status).toBe('pending');
    expect(kept[0].photos[0].path).toMatch(/^wxfile:\/\/usr\/saved-/); // out of the temp folder
    expect(wx.saved.get(kept[0].photos[0].path)).toBe('wxfile://tmp/photo.jpg');
    const key = kept[0].idempotencyKey;

    // still offline: nothing sent, the draft stays
    const first = await logic.flushDrafts();
    expect(first).toEqual({ sent: [], failed: [], kept: 1 });
    expect(drafts.list()).toHaveLength(1);

    online = true;
    const second = await logic.flushDrafts();
    expect(second.sent).toEqual(['C1']);
    expect(drafts.list()).toHaveLength(0);
    expect(wx.saved.size).toBe(0); // the saved photo is removed with the draft
    const sent = wx.calls.request.filter((r) => r.url.endsWith('/api/v1/reports'));
    const last = sent[sent.length - 1];
    expect(last.header['Idempotency-Key']).toBe(key);
    expect(last.data.upload_ids).toEqual(['U9']);
    expect(api.isSignedIn()).toBe(true);
  });

  test('a server that stays unavailable keeps the draft too', async () => {
    const { drafts, logic } = setup(() => problem(503, 'storage_unavailable', 'x'));
    const result = await logic.submit(form(), []);
    expect(result.draft.form.description).toBe('人行道上井盖丢失，夜里很危险');
    expect(drafts.pending()).toHaveLength(1);
  });

  test('a draft the API refuses is marked failed with the reason, and kept for editing', async () => {
    let online = false;
    const { drafts, logic } = setup(() => (online ? problem(422, 'unknown_category', 'x') : 'fail'));
    await logic.submit(form(), []);
    online = true;
    const result = await logic.flushDrafts();
    expect(result.failed).toHaveLength(1);
    const [draft] = drafts.list();
    expect(draft.status).toBe('failed');
    expect(draft.error).toBe('所选问题类别已停用，请重新选择');
    expect(drafts.pending()).toHaveLength(0);
  });

  test('nothing is sent while signed out', async () => {
    const wx = fakeWx({ server: () => ok({}) });
    const api = client(wx, { signedIn: false });
    const drafts = createDrafts({ wx });
    drafts.save({ id: 'd1', idempotencyKey: 'mp-key-0001', form: form(), photos: [] });
    const result = await createReportLogic({ api, wx, drafts }).flushDrafts();
    expect(result.sent).toEqual([]);
    expect(wx.calls.request).toHaveLength(0);
  });
});

describe('subscribe-message consent', () => {
  test('asks for at most three templates and posts the raw answer', async () => {
    const wx = fakeWx({
      server: (req) =>
        req.method === 'GET'
          ? ok({ templates: ['T1', 'T2', 'T3', 'T4'].map((t) => ({ template_id: t, events: [], available: 0 })) })
          : ok({ templates: [] }),
    });
    const api = client(wx);
    const ids = await subscribe.loadTemplateIds(api);
    expect(ids).toEqual(['T1', 'T2', 'T3']);
    const result = await subscribe.ask(api, wx, ids);
    expect(result).toEqual({ errMsg: 'requestSubscribeMessage:ok', T1: 'accept', T2: 'accept', T3: 'accept' });
    const post = wx.calls.request[1];
    expect(post.method).toBe('POST');
    expect(post.url).toBe('http://api.test/api/v1/wechat/subscriptions');
    expect(post.data).toEqual(result);
  });

  test('no templates, or the API failing, never blocks reporting', async () => {
    const wx = fakeWx({ server: () => problem(500, 'internal_error', 'x') });
    const api = client(wx);
    await expect(subscribe.loadTemplateIds(api)).resolves.toEqual([]);
    await expect(subscribe.ask(api, wx, [])).resolves.toBeNull();
    await expect(subscribe.ask(api, wx, ['T1'])).resolves.toMatchObject({ T1: 'accept' });
  });
});

describe('what is already known nearby', () => {
  test('open public cases near the pin become map markers in GCJ-02', async () => {
    const { wx, logic } = setup(() => ok([{ case_no: 'C1', category: '井盖', status: '处置中', lng: 114.9216, lat: 27.8156 }]));
    const markers = await logic.nearby(114.92, 27.81);
    expect(wx.calls.request[0].url).toBe(
      'http://api.test/api/v1/reports/nearby?lng=114.92&lat=27.81&coord=gcj02&radius=300&limit=20'
    );
    expect(markers[0].longitude).toBeGreaterThan(114.9216);
    expect(markers[0].callout.content).toBe('井盖（处置中）');
  });
});
