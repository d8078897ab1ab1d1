/**
 * The contract: every path, method, parameter and field the mini-program uses exists in the backend's
 * OpenAPI document, and every error code it has a message for is still answered by the backend.
 *
 * scripts/miniprogram.sh writes the document first (tests/miniprogram/test_contract.py --write, with
 * the project's venv) and passes its path in ZHCG_CONTRACT_JSON.
 */
const fs = require('fs');
const path = require('path');
const endpoints = require('../utils/endpoints');
const { MESSAGES } = require('../utils/errors');
const { checkAll, checkEndpoint } = require('./helpers/contract');

const file = process.env.ZHCG_CONTRACT_JSON || path.join(__dirname, '../../var/miniprogram/contract.json');

function load() {
  if (!fs.existsSync(file)) {
    throw new Error(
      `${file} is missing: run \`bash scripts/miniprogram.sh\` (it writes the API's OpenAPI document) from the repository root`
    );
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

describe('contract with the backend', () => {
  const contract = load();

  test('the document is the backend OpenAPI with its error codes', () => {
    expect(contract.openapi.openapi).toMatch(/^3\./);
    expect(contract.error_codes.length).toBeGreaterThan(50);
  });

  test('every endpoint, parameter and field the mini-program uses exists', () => {
    expect(checkAll(contract.openapi, endpoints)).toEqual([]);
  });

  test('every error code with a message is one the backend answers', () => {
    const known = new Set(contract.error_codes);
    expect(Object.keys(MESSAGES).filter((code) => !known.has(code))).toEqual([]);
  });

  test('the subscribe-message page exists in app.json', () => {
    const app = JSON.parse(fs.readFileSync(path.join(__dirname, '../app.json'), 'utf8'));
    expect(app.pages).toContain(contract.subscribe_page.split('?')[0]);
  });
});

describe('the checker finds drift', () => {
  const doc = {
    openapi: '3.1.0',
    paths: {
      '/api/v1/x/{id}': {
        post: {
          parameters: [
            { name: 'id', in: 'path', required: true },
            { name: 'q', in: 'query', required: true },
            { name: 'Idempotency-Key', in: 'header', required: true },
          ],
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/In' } } } },
          responses: { 200: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Out' } } } } },
        },
      },
    },
    components: {
      schemas: {
        In: { type: 'object', properties: { a: {}, b: {} }, required: ['a', 'b'] },
        Out: {
          type: 'object',
          properties: {
            items: { type: 'array', items: { $ref: '#/components/schemas/Item' } },
            maybe: { anyOf: [{ $ref: '#/components/schemas/Item' }, { type: 'null' }] },
          },
        },
        Item: { type: 'object', properties: { name: { type: 'string' } } },
      },
    },
  };

  test('a matching declaration passes', () => {
    const ep = {
      method: 'POST',
      path: '/api/v1/x/{id}',
      params: ['id'],
      query: ['q'],
      headers: ['Idempotency-Key'],
      idempotency: 'required',
      body: ['a', 'b'],
      response: ['items[].name', 'maybe.name'],
    };
    expect(checkEndpoint(doc, 'x', ep)).toEqual([]);
  });

  test('missing paths, fields, parameters and required inputs are reported', () => {
    expect(checkEndpoint(doc, 'x', { method: 'GET', path: '/api/v1/x/{id}', params: ['id'] })).toEqual([
      'x (GET /api/v1/x/{id}): no such path and method in the API',
    ]);
    const problems = checkEndpoint(doc, 'x', {
      method: 'POST',
      path: '/api/v1/x/{id}',
      params: ['id'],
      query: ['r'],
      body: ['a', 'c'],
      response: ['items.name', 'items[].size', 'gone'],
    });
    expect(problems.map((p) => p.replace('x (POST /api/v1/x/{id}): ', ''))).toEqual([
      'query parameter "r" unknown to the API',
      'required query parameter "q" is not sent',
      'required header "Idempotency-Key" is not sent',
      'body field "c" unknown to the API',
      'required body field "b" is not sent',
      'answer: no field "name" (in "items.name")',
      'answer: no field "size" (in "items[].size")',
      'answer: no field "gone" (in "gone")',
    ]);
  });
});

describe('the declarations are what the mini-program uses', () => {
  test('every declared endpoint is called somewhere in utils/, logic/ or pages/', () => {
    const dirs = ['utils', 'logic', 'pages'].map((d) => path.join(__dirname, '..', d));
    const sources = [];
    const walk = (dir) =>
      fs.readdirSync(dir, { withFileTypes: true }).forEach((e) => {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.js') && e.name !== 'endpoints.js') sources.push(fs.readFileSync(p, 'utf8'));
      });
    dirs.forEach(walk);
    const all = sources.join('\n');
    const unused = Object.keys(endpoints).filter((name) => all.indexOf(`'${name}'`) < 0);
    expect(unused).toEqual([]);
  });
});
