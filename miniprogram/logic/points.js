/** Reward points: balance, history, catalogue and redeeming (with an Idempotency-Key per tap). */
const format = require('../utils/format');

const REDEMPTION_STATUS = { pending: '待发放', fulfilled: '已发放', refunded: '已退回' };

function createPointsLogic({ api }) {
  async function overview() {
    const [balance, items] = await Promise.all([api.call('balance'), api.call('rewardItems')]);
    return { balance: balance.balance, items: catalogue(items, balance.balance) };
  }

  async function ledger(offset = 0, limit = 20) {
    const answer = await api.call('ledger', { query: { limit, offset } });
    const items = answer.items.map((l, i) =>
      Object.assign({}, l, {
        key: offset + i,
        pointsText: format.points(l.points),
        when: format.time(l.at),
        gain: l.points > 0,
      })
    );
    return { items, total: answer.total, more: offset + items.length < answer.total };
  }

  async function redemptions() {
    const list = await api.call('redemptions');
    return list.map((r) =>
      Object.assign({}, r, { statusLabel: REDEMPTION_STATUS[r.status] || r.status, when: format.time(r.at) })
    );
  }

  /** One redemption; `key` is kept by the page for the tap so a retry never redeems twice. */
  async function redeem(itemCode, key) {
    return api.call('redeem', { body: { item: itemCode }, idempotencyKey: key });
  }

  return { overview, ledger, redemptions, redeem };
}

function catalogue(items, balance) {
  return items.map((i) =>
    Object.assign({}, i, {
      affordable: i.in_stock && i.points_cost <= balance,
      note: !i.in_stock ? '已兑完' : i.points_cost > balance ? `还差 ${i.points_cost - balance} 分` : '',
    })
  );
}

module.exports = { createPointsLogic, catalogue, REDEMPTION_STATUS };
