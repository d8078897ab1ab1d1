/**
 * @jest-environment jsdom
 */
/**
 * The pages as WeChat DevTools will see them: every page of app.json has its four files, WeChat's own
 * compilers (wcc / wcsc from miniprogram-compiler) accept all WXML and WXSS, every custom component a
 * page uses exists, and every event handler named in a page's or component's WXML is defined.
 */
const fs = require('fs');
const path = require('path');
const compiler = require('miniprogram-compiler');

const root = path.join(__dirname, '..');
const app = JSON.parse(fs.readFileSync(path.join(root, 'app.json'), 'utf8'));
const components = ['category-picker', 'timeline', 'place-list'].map((c) => `components/${c}/index`);

function handlersIn(wxml) {
  const names = new Set();
  const re = /\b(?:bind|catch|capture-bind|capture-catch|mut-bind):?[a-z]+="([^"{}]+)"/g;
  let m;
  while ((m = re.exec(wxml))) names.add(m[1]);
  return [...names];
}

/** Loads a page or component module with fake Page/Component/App globals; returns what it registered. */
function register(file) {
  let registered = null;
  const globals = {
    App: (def) => (registered = def),
    Page: (def) => (registered = def),
    Component: (def) => (registered = def),
    getApp: () => ({ flushDrafts: () => Promise.resolve(), requireLogin: () => {} }),
    getCurrentPages: () => [],
    wx: {},
  };
  Object.assign(global, globals);
  jest.isolateModules(() => {
    require(path.join(root, file));
  });
  Object.keys(globals).forEach((k) => delete global[k]);
  return registered;
}

describe('pages', () => {
  test('app.json lists the pages the issue asks for, with the subscribe-message page', () => {
    expect(app.pages).toEqual(
      expect.arrayContaining([
        'pages/home/index',
        'pages/report/index',
        'pages/cases/index',
        'pages/case/detail',
        'pages/points/index',
        'pages/places/index',
        'pages/fines/index',
        'pages/login/index',
      ])
    );
    app.tabBar.list.forEach((tab) => expect(app.pages).toContain(tab.pagePath));
  });

  test.each(app.pages)('%s has .js, .wxml, .wxss and a valid .json', (page) => {
    ['.js', '.wxml', '.wxss', '.json'].forEach((ext) => expect(fs.existsSync(path.join(root, page + ext))).toBe(true));
    const json = JSON.parse(fs.readFileSync(path.join(root, `${page}.json`), 'utf8'));
    Object.values(json.usingComponents || {}).forEach((c) => {
      expect(fs.existsSync(path.join(root, `${c}.js`))).toBe(true);
    });
  });

  test("WeChat's compilers accept every WXML and WXSS file", () => {
    // eslint-disable-next-line no-new-func
    const gwx = new Function(compiler.wxmlToJs(root))();
    app.pages.concat(components).forEach((p) => expect(typeof gwx(`${p}.wxml`)).toBe('function'));
    // eslint-disable-next-line no-new-func
    const wxss = new Function(compiler.wxssToJs(root))();
    app.pages.concat(components).forEach((p) => expect(wxss(`${p}.wxss`)).toBeDefined());
  });

  test.each(app.pages)('%s defines every handler its WXML names', (page) => {
    const def = register(page);
    expect(def).not.toBeNull();
    const wxml = fs.readFileSync(path.join(root, `${page}.wxml`), 'utf8');
    const missing = handlersIn(wxml).filter((h) => typeof def[h] !== 'function');
    expect(missing).toEqual([]);
  });

  test('app.js registers the app with draft sending and the login redirect', () => {
    const def = register('app');
    expect(typeof def.flushDrafts).toBe('function');
    expect(typeof def.requireLogin).toBe('function');
    expect(typeof def.onShow).toBe('function');
  });

  test.each(components)('%s defines every handler its WXML names', (component) => {
    const def = register(component);
    const wxml = fs.readFileSync(path.join(root, `${component}.wxml`), 'utf8');
    const missing = handlersIn(wxml).filter((h) => typeof (def.methods || {})[h] !== 'function');
    expect(missing).toEqual([]);
  });
});
