const { fakeWx, ok, problem } = require('./helpers/fake-wx');
const { client } = require('./helpers/client');
const { createClient, ApiError, newKey, queryString } = require('../utils/api');
const { messageFor, MESSAGES } = require('../utils/errors');

describe('requests', () => {
  test('base URL per build, bearer token, path and query', async () => {
    const wx = fakeWx({ server: () => ok({ items: [], total: 0 }) });
    const api = client(wx);
    expect(api.baseUrl).toBe('http://api.test');
    await api.call('myReports', { query: { limit: 5, offset: 0 } });
    const req = wx.calls.request[0];
    expect(req.url).toBe('http://api.test/api/v1/reports/mine?limit=5&offset=0');
    expect(req.method).toBe('GET');
    expect(req.header.Authorization).toBe('Bearer zc1.test');
  });

  test('the release build uses the release URL; a stored override wins', () => {
    const wx = fakeWx({ env: 'release' });
    const config = { baseUrls: { develop: 'http://dev', release: 'https://zhcg.example/' } };
    expect(createClient({ wx, config }).baseUrl).toBe('https://zhcg.example');
    wx.setStorageSync('zhcg.baseUrl', 'http://192.168.1.5:8000');
    expect(createClient({ wx, config }).baseUrl).toBe('http://192.168.1.5:8000');
  });

  test('path parameters are encoded; empty query values are left out', async () => {
    const wx = fakeWx({ server: () => ok({ case_no: 'X' }) });
    const api = client(wx);
    await api.call('caseDetail', { params: { case_no: '2026/11 21' } });
    expect(wx.calls.request[0].url).toBe('http://api.test/api/v1/reports/2026%2F11%2021');
    expect(queryString({ a: 1, b: null, c: '', d: undefined, e: '中' })).toBe('?a=1&e=%E4%B8%AD');
    await expect(api.call('caseDetail', {})).rejects.toThrow('missing path parameter case_no');
  });

  test('public calls do not send the token', async () => {
    const wx = fakeWx({ server: () => ok([]) });
    await client(wx).call('categories');
    expect(wx.calls.request[0].header.Authorization).toBeUndefined();
  });

  test('optional-auth calls send the token when there is one', async () => {
    const wx = fakeWx({ server: () => ok({ out_trade_no: 'T1', status: 'pending' }) });
    await client(wx).call('createPayment', {
      params: { decision_no: 'D1' },
      body: { channel: 'wechat', client: 'miniprogram', party_name: '张三' },
    });
    expect(wx.calls.request[0].header.Authorization).toBe('Bearer zc1.test');
    const anon = fakeWx({ server: () => ok({}) });
    await client(anon, { signedIn: false }).call('createPayment', {
      params: { decision_no: 'D1' },
      body: { channel: 'wechat', client: 'miniprogram', party_name: '张三' },
    });
    expect(anon.calls.request[0].header.Authorization).toBeUndefined();
  });

  test('refuses to send a field the endpoint does not declare', async () => {
    const api = client(fakeWx());
    await expect(api.call('smsCode', { body: { phone: '1', extra: 1 } })).rejects.toThrow(/not declared.*extra/);
    await expect(api.call('places', { query: { kind: 'toilet', radius: 5 } })).rejects.toThrow(/radius/);
    await expect(api.call('nope')).rejects.toThrow('unknown endpoint');
  });

  test('a 204 answer resolves with null', async () => {
    const wx = fakeWx({ server: () => ({ statusCode: 204, data: '' }) });
    await expect(client(wx).call('unfollow', { params: { case_no: 'C1' } })).resolves.toBeNull();
    expect(wx.calls.request[0].method).toBe('DELETE');
  });

  test('reports carry a device id, the same every time', async () => {
    const wx = fakeWx({ server: () => ok({ case_no: 'C1' }, 201) });
    const api = client(wx);
    const body = { category: 'BJ0110', description: '井盖丢失了', lng: 1, lat: 2 };
    await api.call('report', { body });
    await api.call('report', { body });
    const [a, b] = wx.calls.request.map((r) => r.header['X-Device-Id']);
    expect(a).toMatch(/^[\x21-\x7e]{8,128}$/);
    expect(b).toBe(a);
  });
});

describe('tokens', () => {
  test('saveToken keeps the token and citizen; an expired token counts as signed out', () => {
    const wx = fakeWx();
    const api = client(wx, { signedIn: false });
    expect(api.isSignedIn()).toBe(false);
    api.saveToken({ token: 'zc1.new', expires_in: 3600, citizen: { id: 7, phone_masked: '' } });
    expect(api.getToken()).toBe('zc1.new');
    expect(api.citizen()).toEqual({ id: 7, phone_masked: '' });
    api.saveToken({ token: 'zc1.old', expires_in: 30 }); // less than the safety minute
    expect(api.isSignedIn()).toBe(false);
  });

  test('a citizen call without a token asks for login and sends nothing', async () => {
    const wx = fakeWx();
    const onUnauthorized = jest.fn();
    const api = client(wx, { signedIn: false, onUnauthorized });
    await expect(api.call('balance')).rejects.toMatchObject({ status: 401, code: 'unauthorized', message: '请先登录' });
    expect(onUnauthorized).toHaveBeenCalled();
    expect(wx.calls.request).toHaveLength(0);
  });

  test('a 401 unauthorized answer clears the token and asks for login', async () => {
    const wx = fakeWx({ server: () => problem(401, 'unauthorized', '登录已失效，请重新登录') });
    const onUnauthorized = jest.fn();
    const api = client(wx, { onUnauthorized });
    await expect(api.call('balance')).rejects.toMatchObject({ status: 401, message: '登录已失效，请重新登录' });
    expect(api.isSignedIn()).toBe(false);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  test('a wrong SMS code (401 on a login call) keeps the session', async () => {
    const wx = fakeWx({
      server: () => problem(401, 'sms_code_invalid', '验证码错误或已失效，请重新输入', { details: { remaining_attempts: 2 } }),
    });
    const onUnauthorized = jest.fn();
    const api = client(wx, { onUnauthorized });
    await expect(api.call('phoneLogin', { body: { phone: '13800138000', code: '000000' } })).rejects.toMatchObject({
      code: 'sms_code_invalid',
      message: '验证码不正确，还可以再试 2 次',
    });
    expect(onUnauthorized).not.toHaveBeenCalled();
    expect(api.isSignedIn()).toBe(true);
  });
});

describe('retries', () => {
  test('a report is retried after a network error with the same Idempotency-Key', async () => {
    let n = 0;
    const wx = fakeWx({ server: () => (++n === 1 ? 'fail' : ok({ case_no: 'C1' }, 201)) });
    const api = client(wx);
    const answer = await api.call('report', { body: { category: 'BJ0110', description: '井盖丢失了', lng: 1, lat: 2 } });
    expect(answer.case_no).toBe('C1');
    const keys = wx.calls.request.map((r) => r.header['Idempotency-Key']);
    expect(keys).toHaveLength(2);
    expect(keys[0]).toMatch(/^[A-Za-z0-9_\-:.]{8,64}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(api.sleeps).toEqual([500]);
  });

  test('a given key is used as it is; 503 and 504 are retried with back-off, then the error is told', async () => {
    const wx = fakeWx({ server: () => problem(503, 'provider_unavailable', '微信支付暂时无法下单，请稍后再试') });
    const api = client(wx);
    const err = await api
      .call('createPayment', {
        params: { decision_no: 'D1' },
        body: { channel: 'wechat', client: 'miniprogram', party_name: '张三' },
        idempotencyKey: 'mp-fixed-key-1',
      })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.message).toBe('支付服务暂时无法下单，请稍后再试');
    expect(wx.calls.request.map((r) => r.header['Idempotency-Key'])).toEqual(Array(3).fill('mp-fixed-key-1'));
    expect(api.sleeps).toEqual([500, 1000]);
  });

  test('Retry-After of a few seconds is respected', async () => {
    let n = 0;
    const wx = fakeWx({
      server: () =>
        ++n === 1 ? { statusCode: 503, data: { code: 'wechat_unavailable', message: 'x' }, header: { 'retry-after': '3' } } : ok({ balance: 1 }),
    });
    const api = client(wx);
    await api.call('balance');
    expect(api.sleeps).toEqual([3000]);
  });

  test('payment_in_progress (409, retryable) is retried', async () => {
    let n = 0;
    const wx = fakeWx({
      server: () =>
        ++n === 1
          ? problem(409, 'payment_in_progress', '正在为该决定书创建支付订单，请稍后重试', { details: { retryable: true } })
          : ok({ out_trade_no: 'T1', status: 'pending' }),
    });
    const answer = await client(wx).call('createPayment', {
      params: { decision_no: 'D1' },
      body: { channel: 'wechat', client: 'miniprogram', party_name: '张三' },
    });
    expect(answer.out_trade_no).toBe('T1');
    expect(wx.calls.request).toHaveLength(2);
  });

  test('calls that are neither safe nor keyed are not retried', async () => {
    const wx = fakeWx({ server: () => 'fail' });
    const err = await client(wx)
      .call('smsCode', { body: { phone: '13800138000' } })
      .catch((e) => e);
    expect(err).toMatchObject({ offline: true, code: 'network_error', message: '网络连接失败，请检查网络后重试' });
    expect(wx.calls.request).toHaveLength(1);
  });

  test('client errors and permanent 503s are not retried', async () => {
    const wx = fakeWx({ server: () => problem(422, 'insufficient_points', '积分不足') });
    await expect(client(wx).call('redeem', { body: { item: 'HF10' } })).rejects.toMatchObject({ status: 422, message: '积分不足' });
    expect(wx.calls.request).toHaveLength(1);
    const wx2 = fakeWx({ server: () => problem(503, 'wechat_not_configured', '暂未开通微信登录，请使用手机号登录') });
    await expect(client(wx2, { signedIn: false }).call('wechatLogin', { body: { code: 'c' } })).rejects.toMatchObject({
      code: 'wechat_not_configured',
    });
    expect(wx2.calls.request).toHaveLength(1);
  });

  test('rate limits are not retried and tell when to try again', async () => {
    const wx = fakeWx({
      server: () => problem(429, 'sms_rate_limited', '验证码发送过于频繁，请 45 秒后再试', { details: { retry_after: 45 } }),
    });
    const err = await client(wx, { signedIn: false })
      .call('smsCode', { body: { phone: '13800138000' } })
      .catch((e) => e);
    expect(err.message).toBe('验证码发送过于频繁，请 45 秒后再试');
    expect(err.details.retry_after).toBe(45);
  });

  test('safe GETs are retried after network errors', async () => {
    let n = 0;
    const wx = fakeWx({ server: () => (++n < 3 ? 'fail' : ok({ balance: 15 })) });
    await expect(client(wx).call('balance')).resolves.toEqual({ balance: 15 });
    expect(wx.calls.request).toHaveLength(3);
  });

  test('new keys are unique and valid', () => {
    const keys = new Set(Array.from({ length: 100 }, () => newKey()));
    expect(keys.size).toBe(100);
    keys.forEach((k) => expect(k).toMatch(/^[A-Za-z0-9_\-:.]{8,64}$/));
  });
});

describe('uploads and downloads', () => {
  test('a photo is uploaded as multipart field "file" with the token', async () => {
    const wx = fakeWx({ server: () => ok({ id: 'U1', status: 'pending', exif: null }, 201) });
    const answer = await client(wx).upload('upload', '/tmp/a.jpg');
    expect(answer.id).toBe('U1');
    expect(wx.calls.uploadFile[0]).toMatchObject({
      url: 'http://api.test/api/v1/uploads',
      filePath: '/tmp/a.jpg',
      name: 'file',
    });
    expect(wx.calls.uploadFile[0].header.Authorization).toBe('Bearer zc1.test');
  });

  test('a refused photo is an ApiError with the friendly message', async () => {
    const wx = fakeWx({ server: () => problem(422, 'upload_not_image', '文件不是支持的图片') });
    await expect(client(wx).upload('upload', '/tmp/a.txt')).rejects.toMatchObject({
      code: 'upload_not_image',
      message: '只能上传 JPEG、PNG、WebP 或 HEIC 格式的照片',
    });
  });

  test('a case photo is downloaded with the token', async () => {
    const wx = fakeWx({ server: () => ({ statusCode: 200, tempFilePath: 'wxfile://tmp/p.jpg' }) });
    const path = await client(wx).download('photo', { params: { upload_id: 'U1', variant: 'thumb' } });
    expect(path).toBe('wxfile://tmp/p.jpg');
    expect(wx.calls.downloadFile[0].url).toBe('http://api.test/api/v1/uploads/U1/thumb');
    expect(wx.calls.downloadFile[0].header.Authorization).toBe('Bearer zc1.test');
  });

  test('call() refuses upload and download endpoints', async () => {
    await expect(client(fakeWx()).call('upload')).rejects.toThrow('upload endpoint');
  });
});

describe('error messages', () => {
  test('known codes get the friendly message; unknown ones keep the API message, then the status', () => {
    expect(messageFor({ code: 'fine_already_paid', message: 'x' }, 409)).toBe('该罚款已缴纳，无需重复缴纳');
    expect(messageFor({ code: 'something_new', message: '新的错误' }, 422)).toBe('新的错误');
    expect(messageFor({}, 502)).toBe('服务暂时不可用，请稍后再试');
    expect(messageFor(null, 599)).toBe('服务器开小差了，请稍后再试');
    expect(messageFor({ code: 'description_too_short', message: '问题描述至少 5 个字' }, 422)).toBe('问题描述至少 5 个字');
    expect(messageFor({ code: 'fine_lookup_rate_limited', details: { retry_after: 600 } }, 429)).toBe('查询过于频繁，请 10 分钟后再试');
  });

  test('validation problems say which fields', () => {
    const p = { code: 'invalid_request', message: '请求参数不正确：lng', errors: [{ field: 'lng', message: '应为数字' }] };
    expect(messageFor(p, 422)).toBe('请求参数不正确：lng');
  });

  test('every message is Chinese', () => {
    Object.keys(MESSAGES).forEach((code) => {
      const m = MESSAGES[code];
      const text = typeof m === 'function' ? m({ retry_after: 30, remaining_attempts: 1 }) : m;
      if (text !== null) expect(text).toMatch(/[\u4e00-\u9fff]/);
    });
  });
});
