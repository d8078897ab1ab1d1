/** Small page helpers: show an ApiError's Chinese message, loading state. */
/* global wx */
function showError(err, fallback) {
  const message = (err && err.message) || fallback || '操作失败，请稍后重试';
  wx.showToast({ title: message.length > 20 ? message.slice(0, 20) : message, icon: 'none', duration: 2500 });
  if (message.length > 20) wx.showModal({ title: '提示', content: message, showCancel: false });
}

function toast(title) {
  wx.showToast({ title, icon: 'success' });
}

module.exports = { showError, toast };
