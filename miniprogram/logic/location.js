/** The user's position in GCJ-02 (what <map>, the API's coord=gcj02 and wx.openLocation expect). */
function locate(wx, fallback) {
  return new Promise((resolve) => {
    wx.getLocation({
      type: 'gcj02',
      isHighAccuracy: true,
      success: (r) => resolve({ lng: r.longitude, lat: r.latitude, located: true }),
      fail: () => resolve(Object.assign({ located: false }, fallback)),
    });
  });
}

module.exports = { locate };
