module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests'],
  testMatch: ['**/*.test.js'],
  // component tests set `@jest-environment jsdom` in their docblock
  testTimeout: 10000,
};
