/** The home page: recent cases, points, kept drafts; each part fails on its own. */
const { summary } = require('./cases');

async function load({ api, drafts }) {
  const out = { signedIn: api.isSignedIn(), recent: [], balance: null, drafts: drafts.list().length };
  if (!out.signedIn) return out;
  const [recent, balance] = await Promise.all([
    api.call('myReports', { query: { limit: 3, offset: 0 } }).catch(() => null),
    api.call('balance').catch(() => null),
  ]);
  if (recent) out.recent = recent.items.map(summary);
  if (balance) out.balance = balance.balance;
  return out;
}

module.exports = { load };
