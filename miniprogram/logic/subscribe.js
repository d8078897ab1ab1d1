/**
 * Subscribe-message consent (docs/decisions/0013): the template ids come from the API (most useful
 * first); wx.requestSubscribeMessage takes at most three and must run in the tap's handler, so the
 * ids are loaded with the page and `ask` is the first thing a submit tap does.
 */
const MAX_PER_REQUEST = 3;

async function loadTemplateIds(api) {
  if (!api.isSignedIn()) return [];
  try {
    const answer = await api.call('subscriptions');
    return (answer.templates || []).map((t) => t.template_id).slice(0, MAX_PER_REQUEST);
  } catch (e) {
    return []; // never block reporting on notifications
  }
}

/** Asks the user and posts the raw answer to the API; resolves with the answer or null. */
function ask(api, wx, templateIds) {
  if (!templateIds || !templateIds.length || !wx.requestSubscribeMessage) return Promise.resolve(null);
  return new Promise((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds: templateIds.slice(0, MAX_PER_REQUEST),
      success: (result) => resolve(result),
      fail: () => resolve(null),
    });
  }).then((result) => {
    if (!result) return null;
    return api
      .call('recordSubscriptions', { body: result })
      .then(() => result)
      .catch(() => result);
  });
}

module.exports = { loadTemplateIds, ask, MAX_PER_REQUEST };
