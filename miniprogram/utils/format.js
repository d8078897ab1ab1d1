/** Display helpers: distances, money, times (the API answers Beijing times as ISO strings). */

function distance(m) {
  if (m === null || m === undefined || Number.isNaN(Number(m))) return '';
  const v = Number(m);
  if (v < 1000) return `${Math.round(v)} 米`;
  return `${(v / 1000).toFixed(v < 10000 ? 1 : 0)} 公里`;
}

function yuan(fen) {
  if (fen === null || fen === undefined) return '';
  const v = Number(fen);
  const sign = v < 0 ? '-' : '';
  const abs = Math.abs(v);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** "2026-11-21T09:05:00+08:00" → "2026-11-21 09:05" (the wall time as the API wrote it). */
function time(iso) {
  if (!iso) return '';
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})/.exec(String(iso));
  return m ? `${m[1]} ${m[2]}` : String(iso);
}

function shortTime(iso) {
  const t = time(iso);
  return t.length >= 16 ? t.slice(5) : t;
}

function points(n) {
  const v = Number(n) || 0;
  return v > 0 ? `+${v}` : String(v);
}

module.exports = { distance, yuan, time, shortTime, points };
