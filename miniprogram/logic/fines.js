/**
 * Fines: look up a decision by number and party name, show the amount with the late fee, pay with
 * WeChat Pay (the API creates the order and answers the wx.requestPayment parameters), confirm with
 * the order status, open the receipt.
 */
const STATUS = { unpaid: '未缴纳', paid: '已缴纳', cancelled: '已撤销', deferred: '暂缓或分期' };
const ORDER_STATUS = { pending: '待支付', paid: '已支付', closed: '已关闭', needs_refund: '待退款', refunded: '已退款' };

function fineView(f) {
  return Object.assign({}, f, {
    statusLabel: STATUS[f.status] || f.status,
    payable: f.status === 'unpaid' && Boolean(f.total_fen),
    hasLateFee: Boolean(f.late_fee_fen),
  });
}

function checkLookup(decisionNo, partyName) {
  if (!String(decisionNo || '').trim()) return '请输入决定书编号';
  if (!String(partyName || '').trim()) return '请输入当事人姓名或单位名称';
  return '';
}

function createFinesLogic({ api, wx, sleep = (ms) => new Promise((r) => setTimeout(r, ms)) }) {
  async function lookup(decisionNo, partyName) {
    const bad = checkLookup(decisionNo, partyName);
    if (bad) throw new Error(bad);
    const fine = await api.call('fineLookup', {
      query: { decision_no: decisionNo.trim(), party_name: partyName.trim() },
    });
    return fineView(fine);
  }

  function requestPayment(params) {
    return new Promise((resolve, reject) => {
      wx.requestPayment(
        Object.assign({}, params, {
          success: () => resolve(true),
          fail: (err) => {
            if (err && /cancel/.test(err.errMsg || '')) resolve(false);
            else reject(new Error('支付未完成，请稍后重试'));
          },
        })
      );
    });
  }

  /** Polls the order until the payment notification has arrived (or gives up with `pending`). */
  async function confirm(outTradeNo, tries = 5) {
    let status = null;
    for (let i = 0; i < tries; i += 1) {
      status = await api.call('paymentStatus', { params: { out_trade_no: outTradeNo } });
      if (status.status !== 'pending') break;
      await sleep(1000 * (i + 1));
    }
    return Object.assign({}, status, { statusLabel: ORDER_STATUS[status.status] || status.status });
  }

  /**
   * Pays a looked-up fine. `key` is the Idempotency-Key the page keeps for this decision while the
   * order is being made, so a repeated tap or a retry answers the same order.
   * Resolves `{ paid, cancelled, order, status }`.
   */
  async function pay(fine, partyName, key) {
    const order = await api.call('createPayment', {
      params: { decision_no: fine.decision_no },
      body: { channel: 'wechat', client: 'miniprogram', party_name: partyName.trim() },
      idempotencyKey: key,
    });
    if (order.status === 'paid') {
      return { paid: true, cancelled: false, order, status: await confirm(order.out_trade_no, 1) };
    }
    let done;
    try {
      if (!order.wechat) throw new Error('支付参数缺失，请稍后重试');
      done = await requestPayment(order.wechat);
    } catch (err) {
      err.order = order; // the page can still check this order's status later
      throw err;
    }
    if (!done) return { paid: false, cancelled: true, order, status: null };
    const status = await confirm(order.out_trade_no);
    return { paid: status.status === 'paid', cancelled: false, order, status };
  }

  /** Downloads the receipt PDF (the party's name travels in a header, not in the address). */
  async function openReceipt(outTradeNo, partyName) {
    const header = partyName ? { 'X-Party-Name': encodeURIComponent(partyName.trim()) } : {};
    const filePath = await api.download('receiptPdf', { params: { out_trade_no: outTradeNo }, header });
    return new Promise((resolve, reject) => {
      wx.openDocument({ filePath, fileType: 'pdf', showMenu: true, success: resolve, fail: reject });
    });
  }

  async function history(offset = 0, limit = 20) {
    const answer = await api.call('myPayments', { query: { limit, offset } });
    return {
      items: answer.items.map((p) => Object.assign({}, p, { statusLabel: ORDER_STATUS[p.status] || p.status })),
      total: answer.total,
    };
  }

  return { lookup, pay, confirm, openReceipt, history };
}

module.exports = { createFinesLogic, fineView, checkLookup, STATUS, ORDER_STATUS };
