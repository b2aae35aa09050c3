// ESLint (flat config) for the browser page of `signstgcn serve` (signstgcn/web); run by tests/test_web_page.py.
export default [
  {
    files: ["signstgcn/web/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: {
        window: "readonly", document: "readonly", navigator: "readonly", location: "readonly", console: "readonly",
        WebSocket: "readonly", performance: "readonly", requestAnimationFrame: "readonly", setInterval: "readonly",
        URL: "readonly", URLSearchParams: "readonly",
      },
    },
    rules: {
      "no-undef": "error",
      "no-unused-vars": "error",
      "no-shadow": "error",
      "no-use-before-define": ["error", { functions: false }],
      "no-var": "error",
      "prefer-const": "error",
      "eqeqeq": "error",
      "no-implicit-globals": "error",
      "no-unreachable": "error",
      "no-dupe-keys": "error",
      "no-fallthrough": "error",
      "curly": ["error", "multi-line"],
      "max-len": ["error", { code: 120 }],
    },
  },
];
